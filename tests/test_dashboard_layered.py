"""The layered layout of flow maps: columns follow causality, few crossings, stable."""

import itertools

from dashboard.layered import crossings, layered_positions, layers

import networkx as nx


def test_columns_follow_the_longest_path_from_the_entry():
    edges = [("svc:order", "topic:placed"), ("topic:placed", "svc:payment"),
             ("topic:placed", "svc:stock"), ("svc:payment", "topic:paid"),
             ("topic:paid", "svc:ship"), ("svc:stock", "svc:ship")]
    nodes = sorted({n for e in edges for n in e})
    pos = layered_positions(nodes, edges, dx=100, dy=50)
    col = {n: pos[n][0] / 100 for n in nodes}
    assert col["svc:order"] == 0
    assert col["topic:placed"] == 1
    assert col["svc:payment"] == col["svc:stock"] == 2
    # ship waits for the longest chain (via paid), not the short one via stock
    assert col["svc:ship"] == 4
    for a, b in edges:
        assert pos[a][0] < pos[b][0], "every edge points right"


def test_cycles_are_broken_and_every_node_is_placed_once():
    edges = [("a", "b"), ("b", "c"), ("c", "a"), ("c", "d")]
    pos = layered_positions("abcd", edges)
    assert set(pos) == set("abcd")
    assert len(set(pos.values())) == 4  # no two nodes on the same spot
    col = layers(nx.DiGraph(edges))
    assert col["a"] == 0 and col["d"] == 3


def test_components_get_their_own_bands_and_isolated_nodes_are_kept():
    pos = layered_positions(["a", "b", "x", "y", "lonely"], [("a", "b"), ("x", "y")], dy=50)
    band = {n: pos[n][1] for n in pos}
    assert band["a"] == band["b"]
    assert band["x"] == band["y"]
    assert len({band["a"], band["x"], band["lonely"]}) == 3
    # self-loops and edges to unknown nodes are ignored, not fatal
    assert set(layered_positions(["a"], [("a", "a"), ("a", "zz")])) == {"a"}


def test_ordering_removes_avoidable_crossings():
    # Two parallel chains whose names sort so that a naive order crosses them.
    edges = [("s1", "t_b"), ("s2", "t_a"), ("t_b", "u1"), ("t_a", "u2"), ("root", "s1"),
             ("root", "s2")]
    nodes = sorted({n for e in edges for n in e})
    pos = layered_positions(nodes, edges)
    assert crossings(pos, edges) == 0
    # A naive layout (alphabetical order in each column) does cross here.
    naive = dict(pos)
    cols = {}
    for n, (x, _) in pos.items():
        cols.setdefault(x, []).append(n)
    for x, ns in cols.items():
        for i, n in enumerate(sorted(ns)):
            naive[n] = (x, i * 10.0)
    assert crossings(naive, edges) > 0


def test_positions_are_deterministic_whatever_the_input_order():
    edges = [("a", "b"), ("a", "c"), ("b", "d"), ("c", "d"), ("d", "e")]
    first = layered_positions("abcde", edges)
    for perm in itertools.islice(itertools.permutations(edges), 20):
        assert layered_positions("edcba", list(perm)) == first


def test_a_long_edge_gets_a_lane_in_each_column_it_crosses_clear_of_the_nodes():
    """order -> email spans four columns: it passes each column in between by a lane of
    its own, never through a node there, and its bends are in its direction."""
    from dashboard.layered import LANE, layered_layout
    chain = [("order", "placed"), ("placed", "pay"), ("pay", "paid"), ("paid", "email")]
    edges = chain + [("order", "email"), ("order", "db"), ("pay", "db"), ("paid", "db")]
    nodes = sorted({n for e in edges for n in e})
    dy = 100.0
    lay = layered_layout(nodes, edges, dx=200, dy=dy)
    pos = lay.positions
    assert set(lay.bends) == {("order", "email"), ("order", "db"), ("pay", "db")}
    bends = lay.bends[("order", "email")]
    assert [x for x, _ in bends] == [200, 400, 600]  # (one per column crossed, in order)
    for x, y in (p for pts in lay.bends.values() for p in pts):
        for n, (nx_, ny) in pos.items():
            if nx_ == x:  # (a node of that column: the lane keeps a lane's spacing off it)
                assert abs(ny - y) >= (1 + LANE) / 2 * dy - 1e-6, (n, x, y)
    # one layout whatever the input order, bends included
    again = layered_layout(nodes[::-1], edges[::-1], dx=200, dy=dy)
    assert again.positions == pos and again.bends == lay.bends


def test_a_chain_lies_straight_and_a_back_edge_bends_the_other_way():
    from dashboard.layered import layered_layout
    lay = layered_layout("abcd", [("a", "b"), ("b", "c"), ("c", "d"), ("d", "a")], dy=50)
    ys = [y for _, y in lay.positions.values()]
    assert max(ys) - min(ys) < 1  # (the lanes make way for it: a fiftieth of a pixel)
    # the reply d -> a runs right to left through the columns of c and b
    assert [x for x, _ in lay.bends[("d", "a")]] == [440.0, 220.0]
    assert all(y != lay.positions["a"][1] for _, y in lay.bends[("d", "a")])


def test_bend_style_puts_the_control_points_where_the_layout_bends():
    """Cytoscape places a control point at weight w along the line between the centres and
    distance d square to it, on the side the direction turned a quarter clockwise on screen
    points to: undoing that gives the layout's points back."""
    from dashboard.layered import bend_style
    for src, dst in [((0, 0), (600, 0)), ((600, 80), (0, -40)), ((10, 300), (400, 20))]:
        points = [(200, -90), (400, 130)]
        st = bend_style(src, dst, points)
        (sx, sy), (tx, ty) = src, dst
        length = ((tx - sx) ** 2 + (ty - sy) ** 2) ** 0.5
        nx_, ny = -(ty - sy) / length, (tx - sx) / length
        back = [(sx + w * (tx - sx) + d * nx_, sy + w * (ty - sy) + d * ny)
                for d, w in zip(st["cpd"], st["cpw"])]
        for (px, py), (bx, by) in zip(points, back):
            assert abs(px - bx) < 0.05 and abs(py - by) < 0.05


def test_the_map_draws_a_long_edge_through_its_lanes():
    """The flow map's elements: an edge spanning columns is ``bent`` and carries one control
    point per lane (the stylesheet's unbundled bezier reads them); a short one is not."""
    from dashboard.pages.flow_map import map_elements, stylesheet
    ids = ["service:a", "topic:t", "service:b", "external:db"]
    analysis = {
        "nodes": [{"id": i, "type": i.split(":")[0], "name": i.split(":")[1]} for i in ids],
        "edges": [{"id": f"{s}->{d}", "source": s, "target": d, "type": "call", "count": 3}
                  for s, d in [("service:a", "topic:t"), ("topic:t", "service:b"),
                               ("service:b", "external:db"), ("service:a", "external:db")]]}
    edges = {e["data"]["id"]: e for e in map_elements(analysis) if "source" in e["data"]}
    long = edges["service:a->external:db"]
    assert "bent" in long["classes"].split()
    assert len(long["data"]["cpd"]) == len(long["data"]["cpw"]) == 2
    assert all(0 < w < 1 for w in long["data"]["cpw"]) and any(long["data"]["cpd"])
    assert "bent" not in edges["service:a->topic:t"]["classes"].split()
    assert "cpd" not in edges["service:a->topic:t"]["data"]
    bent = [s["style"] for s in stylesheet() if s["selector"] == "edge.bent"]
    assert bent and bent[0]["control-point-distances"] == "data(cpd)"


def test_a_tall_layout_is_spread_to_the_width_of_its_box_and_a_wide_one_is_left():
    from dashboard.layered import layered_layout, widen
    # one entry fanning out to six services: two columns, six rows, much taller than wide
    fan = layered_layout("abcdefg", [("a", x) for x in "bcdefg"] + [("a", "z")], dx=200,
                         dy=100)
    wide = widen(fan, 0.5, 140, 40, most=1.6)
    assert [wide.positions[n][0] for n in "ab"] == [0, 320.0]  # (1.6 times, the most)
    assert all(wide.positions[n][1] == fan.positions[n][1] for n in fan.positions)
    # a chain is wider than its box already: as it was
    chain = layered_layout("abcde", list(zip("abcd", "bcde")), dx=200, dy=100)
    assert widen(chain, 0.5, 140, 40) is chain
    # spread exactly as far as the box needs, bends along
    long = layered_layout("abcd", [("a", "b"), ("b", "c"), ("a", "c"), ("a", "d")], dx=100,
                          dy=100)
    spread = widen(long, 0.2, 0, 0, most=10)
    ys = [y for _, y in long.positions.values()]
    assert max(x for x, _ in spread.positions.values()) == (max(ys) - min(ys)) / 0.2 > 200
    f = spread.positions["c"][0] / long.positions["c"][0]
    assert spread.bends[("a", "c")] == [(round(x * f, 1), y) for x, y in long.bends[("a", "c")]]


def test_a_hubs_edges_are_labelled_near_their_targets():
    """Five edges or more out of one node would pile their labels up by it: each is drawn
    near its target, unless more edges meet there than leave the hub."""
    from dashboard.pages.flow_map import HUB_EDGES, map_elements, stylesheet
    outs = [f"topic:t{i}" for i in range(HUB_EDGES)]
    ids = ["service:hub", "service:x", "service:db", *outs]
    pairs = [("service:hub", t) for t in outs] + [("service:x", "service:db")]
    analysis = {
        "nodes": [{"id": i, "type": i.split(":")[0], "name": i.split(":")[1]} for i in ids],
        "edges": [{"id": f"{s}->{d}", "source": s, "target": d, "type": "call", "count": 3}
                  for s, d in pairs]}
    classes = {e["data"]["id"]: e["classes"].split() for e in map_elements(analysis)
               if "source" in e["data"]}
    assert all("label-end" in classes[f"service:hub->{t}"] for t in outs)
    assert "label-end" not in classes["service:x->service:db"]
    end = [s["style"] for s in stylesheet() if s["selector"] == "edge.label-end"]
    assert end and end[0]["target-label"] == "data(label)" and end[0]["label"] == ""
