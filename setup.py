"""Optional compiled decoder; all project metadata lives in pyproject.toml.

``collector._fastdecode`` is built when Cython and a C compiler are available (Cython is in
``[build-system].requires``, so pip provides it). If either is missing the build silently
skips the extension and ``collector.fastdecode`` falls back to the pure-Python decoder.
"""

from setuptools import setup
from setuptools.command.build_ext import build_ext


class OptionalBuildExt(build_ext):
    """build_ext that never fails the install: the extension is an optimisation only."""

    def run(self):
        try:
            super().run()
        except Exception as exc:  # no compiler, missing headers, ...
            self.warn(f"collector._fastdecode not built, using the pure-Python decoder: {exc}")

    def build_extension(self, ext):
        try:
            super().build_extension(ext)
        except Exception as exc:
            self.warn(f"{ext.name} not built, using the pure-Python decoder: {exc}")


def _extensions():
    try:
        from Cython.Build import cythonize
        from setuptools import Extension
    except ImportError:
        return []
    try:
        return cythonize(
            [Extension("collector._fastdecode", ["collector/_fastdecode.pyx"],
                       extra_compile_args=["-O2"])],
            compiler_directives={"language_level": "3"},
            quiet=True,
        )
    except Exception:  # a Cython error must not break the install either
        return []


setup(
    ext_modules=_extensions(),
    cmdclass={"build_ext": OptionalBuildExt},
    # Generated C and an in-place build left in the tree by `pip install -e .` are not package
    # data: a wheel gets only the extension its own build_ext produced (or none).
    exclude_package_data={"collector": ["*.c", "*.so", "*.pyd", "*.pyx"]},
)
