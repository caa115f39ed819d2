# The development shell: `nix develop` gives the tools a contributor needs and these commands,
# the Nix-world twins of the Makefile targets:
#   integration-tests [pytest args]   start temporary daemons on free ports with temporary
#                                     programs dirs, run the integration, conformance and security
#                                     suites, stop them, exit with the suites' status
#   sandkasten-serve                  serve on 127.0.0.1:8000 with the checkout's config.toml and
#                                     every environment of this flake
#   sandkasten-envs [ids]             check environments (conformance program and example)
{
  pkgs,
  environments,
}:
let
  python = pkgs.python3.withPackages (
    ps: with ps; [
      starlette
      hypercorn
      msgspec
      jinja2
      prometheus-client
      requests
      pytest
      hypothesis
      httpx
      mypy
    ]
  );
  # What every command needs: the checkout's code, nsjail and the environments of this flake.
  prelude = ''
    export PYTHONPATH="$PWD''${PYTHONPATH:+:$PYTHONPATH}"
    export NSJAIL_PATH=${pkgs.nsjail}/bin/nsjail
    export ENVIRONMENTS_PATH=${environments.all}/share/sandkasten/packages
  '';
  command =
    name: args:
    pkgs.writeShellScriptBin name ''
      ${prelude}
      exec ${python}/bin/python -m sandkasten_py ${args} "$@"
    '';
in
pkgs.mkShell {
  packages = [
    python
    pkgs.nsjail
    pkgs.iproute2
    pkgs.nftables
    pkgs.slirp4netns
    pkgs.util-linux
    pkgs.gvisor # runsc, for the tests of environments run under gVisor
    pkgs.shellcheck
    (command "integration-tests" "integration-tests")
    (pkgs.writeShellScriptBin "sandkasten-serve" ''
      ${prelude}
      export HOST=''${HOST:-127.0.0.1}
      exec ${python}/bin/python -m sandkasten_py serve "$@"
    '')
    (command "sandkasten-envs" "envs")
  ];
}
