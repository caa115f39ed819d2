# NixOS VM test of services.sandkasten (nixos/tests style; run by the flake's
# `checks.<system>.module` with `pkgs.testers.runNixOSTest`, which also imports the module into
# every node through `defaults`).
#
# A server with the Python environment and a client on the same network: the unit starts with
# its delegated cgroup, the API answers on the opened port, a program is built and run, the
# cgroup limits end a memory hog, and the daemon comes back after a restart.
{ ... }:
{
  name = "sandkasten";

  nodes = {
    server =
      { pkgs, ... }:
      {
        services.sandkasten = {
          enable = true;
          environments = p: [ p.python ];
          openFirewall = true;
          settings = {
            max_concurrent_jobs = 2;
            program_ttl = 60;
          };
        };
        environment.systemPackages = [ pkgs.curl ];
        virtualisation.memorySize = 2048;
        virtualisation.cores = 2;
      };

    client =
      { pkgs, ... }:
      {
        environment.systemPackages = [ pkgs.curl ];
      };
  };

  testScript = ''
    import json
    import shlex


    def post(machine, path, body):
        out = machine.succeed(
            "curl -sf -X POST http://localhost:8000" + path
            + " -H 'Content-Type: application/json' -d " + shlex.quote(json.dumps(body))
        )
        return json.loads(out)


    start_all()
    server.wait_for_unit("sandkasten.service")
    server.wait_for_open_port(8000)

    with subtest("the unit has a delegated cgroup and the daemon sits in its leaf"):
        assert server.succeed("systemctl show -p Delegate --value sandkasten").strip() == "yes"
        pid = server.succeed("systemctl show -p MainPID --value sandkasten").strip()
        cgroup = server.succeed(f"cat /proc/{pid}/cgroup").strip()
        assert cgroup.endswith("/sandkasten.service/daemon"), cgroup

    with subtest("the generated configuration is used"):
        config = json.loads(server.succeed("curl -sf http://localhost:8000/config"))
        print(config)
        environments = json.loads(server.succeed("curl -sf http://localhost:8000/environments"))
        assert "python" in environments, environments

    with subtest("a program is built and run"):
        result = post(server, "/run", {
            "build": {"environment": "python",
                      "main_file": {"content": "print(f'Hello, {input()}!')"}},
            "run": {"stdin": "World"},
        })
        assert result["run"]["status"] == 0, result
        assert result["run"]["stdout"] == "Hello, World!\n", result
        server.succeed("test -d /sys/fs/cgroup/system.slice/sandkasten.service/jobs")
        server.succeed("test -d /var/lib/sandkasten/programs/" + result["program_id"])

    with subtest("the cgroup limit ends a memory hog"):
        result = post(server, "/run", {
            "build": {"environment": "python",
                      "main_file": {"content": "x = b'x' * (512 * 1000 * 1000)\nprint(len(x))"}},
            "run": {"run_limits": {"memory": 64}},
        })
        assert "memory" in result["run"]["exceeded"], result

    with subtest("the port is open to other machines"):
        client.wait_for_unit("multi-user.target")
        client.succeed("curl -sf http://server:8000/environments")

    with subtest("the daemon comes back after a restart"):
        server.succeed("systemctl restart sandkasten")
        server.wait_for_open_port(8000)
        server.succeed("curl -sf http://localhost:8000/environments")
  '';
}
