"""Checks of the NixOS module (`nixos-module/`) that need no nixpkgs (only `nix-instantiate`).

nixpkgs, and with it the real module system (`lib.evalModules`) and every other NixOS module,
cannot be fetched here. So the module is evaluated by `tests/nix/stub-module-eval.nix`: a small
stand-in that declares the module's options, picks each option's value from the definitions by
priority (plain, mkDefault, default), type-checks it with simple predicates, and returns the
module's `config` with mkIf/mkDefault resolved; pkgs is `tests/nix/stub-pkgs.nix` plus
`formats.json`, whose `generate` keeps the value it would write.

Checked:

* every file of the module, the VM template and the VM test parses (the repository-wide parse
  test of test_nix.py finds them; checked here that it does);
* the options: names, types, descriptions; `settings` documents every key of the daemon's
  `Config` and of a limits section;
* disabled, the module defines nothing; enabled, the systemd unit (ExecStart, CONFIG_PATH = the
  generated file, StateDirectory, RuntimeDirectory, Delegate, Restart, PATH with nsjail and the
  network tools, the hardening applied, the one left out and the comment saying why);
* the generated JSON: config.toml's values under `settings` (recursive merge), the forced keys,
  `base_resource_usage_permits` following `max_concurrent_jobs`; it decodes as the daemon's
  `Config`; the assertions for forced keys and permits; the firewall port;
* `environments` selects from the package set and is joined with `combined`;
* the flake: `nixosModules.{sandkasten,default}` default the package and environment set to the
  flake's own, `checks.<system>.module` and `templates.vm` exist (not evaluated further);
* the VM template's `sandkasten.nix` and the VM test's server node evaluate with the module; the
  VM test's Python test script compiles.

NOT checked here (needs nixpkgs, i.e. a machine that can fetch it):

* the real `lib.evalModules` evaluation (option merging, `types.functionTo`/`formats.json`
  semantics, assertions and warnings handling, the systemd module turning `serviceConfig` into a
  unit file), `nixos-rebuild`, `nix flake check`;
* the VM test itself (`nix build .#checks.x86_64-linux.module`): whether nsjail, the delegated
  cgroup v2 subtree, `ip netns`/slirp4netns and the hardening work together at run time;
* the VM template's `nixosSystem` evaluation and the install.
"""

from __future__ import annotations

import json
import shutil
import tomllib
from pathlib import Path
from typing import Any

import msgspec
import pytest

from sandkasten_py.config import Config, ConfigLimits
from tests.nix.test_nix import flake_expr, nix_eval, nix_path
from tests.nix.test_nix import nix_eval_error as nix_error

REPO = Path(__file__).resolve().parents[2]
MODULE = REPO / "nixos-module" / "default.nix"
VM = REPO / "nixos-module" / "vm"
VM_TEST = REPO / "nixos-module" / "tests" / "basic.nix"
EVAL = REPO / "tests" / "nix" / "stub-module-eval.nix"
STUB = REPO / "tests" / "nix" / "stub-pkgs.nix"
NIX_INSTANTIATE = shutil.which("nix-instantiate")

FORCED = {"environments_path", "programs_dir", "jobs_dir", "nsjail_path"}
TOOLS = ["/nix/store/fake-nsjail", "/nix/store/fake-iproute2", "/nix/store/fake-nftables",
         "/nix/store/fake-slirp4netns", "/nix/store/fake-util-linux"]

pytestmark = pytest.mark.skipif(
    NIX_INSTANTIATE is None,
    reason="nix-instantiate is missing (Debian package nix-bin; `make setup` installs it)")


def module_expr(sandkasten: str, body: str = "summary", modules: str | None = None) -> str:
    """`body` with `e` = the stand-in evaluation of the module with
    `config.services.sandkasten = <sandkasten>` (a Nix expression)."""
    modules = modules or f"[ {nix_path(MODULE)} ]"
    return f"""
      let
        e = import {nix_path(EVAL)} {{
          modules = {modules};
          config.services.sandkasten = {sandkasten};
        }};
        summary = {{
          inherit (e) config;
          generated = e.cfg.configFile.value;
          generatedText = e.cfg.configFile.text;
          configFile = e.cfg.configFile.outPath;
        }};
      in {body}
    """


def evaluate(sandkasten: str = "{ enable = true; }") -> dict[str, Any]:
    data: dict[str, Any] = nix_eval(module_expr(sandkasten))
    return data


def config_toml() -> dict[str, Any]:
    return tomllib.loads((REPO / "config.toml").read_text(encoding="utf-8"))


def unit(data: dict[str, Any]) -> dict[str, Any]:
    service: dict[str, Any] = data["config"]["systemd"]["services"]["sandkasten"]
    return service


def failed_assertions(data: dict[str, Any]) -> list[str]:
    return [a["message"] for a in data["config"]["assertions"] if not a["assertion"]]


# ------------------------------------------------------------------ files


def test_module_files_are_in_the_parse_test() -> None:
    from tests.nix.test_nix import nix_files

    names = {str(p.relative_to(REPO)) for p in nix_files()}
    assert {"nixos-module/default.nix", "nixos-module/tests/basic.nix",
            "nixos-module/vm/flake.nix", "nixos-module/vm/configuration.nix",
            "nixos-module/vm/hardware-configuration.nix", "nixos-module/vm/sandkasten.nix",
            "tests/nix/stub-module-eval.nix"} <= names


# ------------------------------------------------------------------ options


def test_options() -> None:
    options = nix_eval(module_expr("{ }", """builtins.mapAttrs (name: o: {
        type = o.type.name;
        description = o.description;
        readOnly = o.readOnly or false;
      }) e.options.services.sandkasten"""))
    assert {name: o["type"] for name, o in options.items()} == {
        "enable": "bool",
        "package": "package",
        "environmentPackages": "attrs",
        "environments": "functionTo listOf package",
        "settings": "json value",
        "openFirewall": "bool",
        "configFile": "path",
    }
    assert all(len(o["description"]) > 20 for o in options.values())
    assert [name for name, o in options.items() if o["readOnly"]] == ["configFile"]


def test_settings_description_names_every_key() -> None:
    description = nix_eval(module_expr(
        "{ }", "e.options.services.sandkasten.settings.description"))
    for key in Config.__struct_fields__:
        assert f"`{key}`" in description, key
    for key in ConfigLimits.__struct_fields__:
        assert f"`{key}`" in description, key


def test_defaults() -> None:
    cfg = nix_eval(module_expr("{ }", """{
        inherit (e.cfg) enable openFirewall settings;
        package = e.cfg.package.name;
        environments = e.cfg.environments e.cfg.environmentPackages;
        sets = builtins.attrNames e.cfg.environmentPackages;
      }"""))
    assert cfg["enable"] is False and cfg["openFirewall"] is False
    assert cfg["settings"] == {} and cfg["environments"] == []
    assert cfg["package"].startswith("sandkasten-py-")
    assert {"all", "combined", "python"} <= set(cfg["sets"])


def test_disabled_defines_nothing() -> None:
    assert nix_eval(module_expr("{ }", "e.config")) == {}


def test_type_errors() -> None:
    assert "environments: not a functionTo" in nix_error(module_expr(
        "{ enable = true; environments = [ ]; }"))
    assert "settings: not a json value" in nix_error(module_expr(
        "{ enable = true; settings.port = x: x; }"))
    assert "unknown option services.sandkasten.setting" in nix_error(module_expr(
        "{ enable = true; setting = { }; }"))
    assert "configFile is read-only" in nix_error(module_expr(
        '{ enable = true; configFile = "/etc/x.json"; }'))


# ------------------------------------------------------------------ the unit


def test_unit() -> None:
    data = evaluate()
    service = unit(data)
    assert service["wantedBy"] == ["multi-user.target"]
    assert service["path"] == TOOLS
    assert service["environment"] == {"CONFIG_PATH": data["configFile"]}
    assert data["configFile"].endswith("sandkasten-config.json")
    config = service["serviceConfig"]
    assert config["ExecStart"].startswith("/nix/store/fake-sandkasten-py-")
    assert config["ExecStart"].endswith("/bin/sandkasten serve")
    assert config["StateDirectory"] == "sandkasten"
    assert config["RuntimeDirectory"] == "sandkasten"
    assert config["Delegate"] is True
    assert config["Restart"] == "always"
    assert "User" not in config and "DynamicUser" not in config  # nsjail needs root
    assert config["ProtectSystem"] == "strict"
    assert {"/var/lib/sandkasten", "/run/sandkasten", "/run/netns"} <= set(config["ReadWritePaths"])
    for key in ("NoNewPrivileges", "ProtectHome", "PrivateTmp", "ProtectKernelModules",
                "LockPersonality", "RestrictRealtime", "RestrictSUIDSGID"):
        assert config[key] is True, key
    assert config["SystemCallArchitectures"] == "native"
    assert "AF_NETLINK" in config["RestrictAddressFamilies"]  # ip and nft
    assert data["config"]["systemd"]["tmpfiles"]["rules"] == ["d /run/netns 0755 root root -"]
    assert data["config"]["networking"]["firewall"]["allowedTCPPorts"] == []
    assert failed_assertions(data) == []


def test_hardening_left_out_is_explained() -> None:
    """What would break nsjail or the jobs is not set, and the module says why."""
    config = unit(evaluate())["serviceConfig"]
    text = MODULE.read_text(encoding="utf-8")
    _, _, not_applied = text.partition("Hardening that could NOT be applied, and why")
    explained = " ".join(line.strip().lstrip("#") for line in not_applied.splitlines()
                         if line.strip().startswith("# * "))
    for key in ("MemoryDenyWriteExecute", "SystemCallFilter", "RestrictNamespaces", "PrivateUsers",
                "ProtectControlGroups", "ProtectKernelTunables", "ProtectKernelLogs",
                "ProtectProc", "ProcSubset", "PrivateDevices", "DevicePolicy", "ProtectClock",
                "PrivateNetwork", "CapabilityBoundingSet", "ProtectHostname"):
        assert key not in config, key
        assert key in explained, key


def test_open_firewall() -> None:
    data = evaluate("{ enable = true; openFirewall = true; settings.port = 8123; }")
    assert data["config"]["networking"]["firewall"]["allowedTCPPorts"] == [8123]


# ------------------------------------------------------------------ the generated configuration


def test_generated_configuration_defaults() -> None:
    data = evaluate()
    generated = data["generated"]
    assert json.loads(data["generatedText"]) == generated
    expected = config_toml()
    for key in FORCED:
        expected.pop(key, None)
    assert {k: v for k, v in generated.items() if k not in FORCED} == expected
    assert generated["programs_dir"] == "/var/lib/sandkasten/programs"
    assert generated["jobs_dir"] == "/var/lib/sandkasten/jobs"
    assert generated["nsjail_path"] == "/nix/store/fake-nsjail/bin/nsjail"
    assert generated["environments_path"] == [
        "/nix/store/fake-sandkasten-packages-combined/share/sandkasten/packages"]
    msgspec.convert(generated, Config)  # what the daemon reads (before nsjail_path resolution)


def test_settings_merge_recursively() -> None:
    data = evaluate("""{ enable = true; settings = {
        port = 8080; enable_metrics = true; max_concurrent_jobs = 4;
        run_limits.time = 10; run_limits.network = true; cgroup_parent = "elsewhere";
      }; }""")
    generated = data["generated"]
    toml = config_toml()
    assert generated["port"] == 8080 and generated["enable_metrics"] is True
    assert generated["run_limits"] == {**toml["run_limits"], "time": 10, "network": True}
    assert generated["compile_limits"] == toml["compile_limits"]
    assert generated["cgroup_parent"] == "elsewhere"
    # Lowered with max_concurrent_jobs so the daemon accepts it.
    assert generated["base_resource_usage_permits"] == 4
    config = msgspec.convert(generated, Config)
    assert config.run_limits.time == 10
    assert failed_assertions(data) == []


def test_explicit_permits_are_kept_and_checked() -> None:
    data = evaluate("{ enable = true; settings = { max_concurrent_jobs = 4; base_resource_usage_permits = 2; }; }")
    assert data["generated"]["base_resource_usage_permits"] == 2
    assert failed_assertions(data) == []
    data = evaluate("{ enable = true; settings = { max_concurrent_jobs = 4; base_resource_usage_permits = 8; }; }")
    assert failed_assertions(data) == [
        "services.sandkasten.settings: base_resource_usage_permits must not exceed max_concurrent_jobs."]


def test_gvisor_environments_get_nixpkgs_runsc_unless_one_is_set() -> None:
    assert "gvisor" not in evaluate()["generated"]  # no gVisor unless asked for
    generated = evaluate('{ enable = true; settings.gvisor.environments = [ "python" ]; }')["generated"]
    assert generated["gvisor"] == {"environments": ["python"], "runsc": "/nix/store/fake-gvisor/bin/runsc"}
    msgspec.convert(generated, Config)
    own = evaluate('{ enable = true; settings.gvisor = { environments = [ "*" ]; runsc = "/opt/runsc"; }; }')
    assert own["generated"]["gvisor"] == {"environments": ["*"], "runsc": "/opt/runsc"}


def test_forced_keys_cannot_be_set() -> None:
    data = evaluate('{ enable = true; settings = { programs_dir = "/srv"; nsjail_path = "/bin/nsjail"; }; }')
    assert data["generated"]["programs_dir"] == "/var/lib/sandkasten/programs"
    assert data["generated"]["nsjail_path"] == "/nix/store/fake-nsjail/bin/nsjail"
    [message] = failed_assertions(data)
    assert "nsjail_path, programs_dir are set by the module" in message


# ------------------------------------------------------------------ environments


def test_environments_select_from_the_package_set() -> None:
    chosen = nix_eval(module_expr("{ enable = true; environments = p: [ p.python p.rust ]; }", """
      let tree = e.cfg.environmentPackages.combined e.cfg.environments; in {
        paths = map (p: p.name) tree.paths;
        warnings = e.config.warnings;
      }"""))
    assert len(chosen["paths"]) == 2
    assert chosen["paths"][0].startswith("sandkasten-python-")
    assert chosen["paths"][1].startswith("sandkasten-rust-")
    assert chosen["warnings"] == []
    everything = nix_eval(module_expr("{ enable = true; environments = p: [ p.all ]; }",
                                      "map (p: p.name) (e.cfg.environmentPackages.combined e.cfg.environments).paths"))
    assert everything == ["sandkasten-packages-all"]
    none = nix_eval(module_expr("{ enable = true; }", "e.config.warnings"))
    assert len(none) == 1 and "no environment" in none[0]


# ------------------------------------------------------------------ flake, VM template, VM test


def test_flake_outputs() -> None:
    result = nix_eval(flake_expr("""{
        names = builtins.attrNames outputs;
        modules = builtins.attrNames outputs.nixosModules;
        same = outputs.nixosModules.default == outputs.nixosModules.sandkasten;
        checks = builtins.mapAttrs (_: builtins.attrNames) outputs.checks;
        template = toString outputs.templates.vm.path;
        description = outputs.templates.vm.description;
      }"""))
    assert {"nixosModules", "checks", "templates"} <= set(result["names"])
    assert result["modules"] == ["default", "sandkasten"]
    assert result["checks"] == {"aarch64-linux": ["module"], "x86_64-linux": ["module"]}
    assert result["template"].endswith("/nixos-module/vm")
    files = {p.name for p in VM.iterdir()}
    assert {"flake.nix", "configuration.nix", "hardware-configuration.nix", "sandkasten.nix"} <= files


def test_flake_module_uses_the_flakes_packages() -> None:
    modules = f"""
      let
        stub = import {nix_path(STUB)} {{ }};
        nixpkgs = {{
          inherit (stub) lib;
          legacyPackages = {{ x86_64-linux = stub; aarch64-linux = stub; }};
        }};
        outputs = (import {nix_path(REPO / 'flake.nix')}).outputs {{ self = outputs; inherit nixpkgs; }};
      in [ outputs.nixosModules.default ]"""
    data = nix_eval(module_expr("{ enable = true; environments = p: [ p.c ]; }", """{
        package = e.cfg.package.outPath;
        sets = builtins.attrNames e.cfg.environmentPackages;
        generated = e.cfg.configFile.value;
        execStart = e.config.systemd.services.sandkasten.serviceConfig.ExecStart;
      }""", modules=modules))
    assert data["package"].startswith("/nix/store/fake-sandkasten-py-")
    assert data["execStart"] == data["package"] + "/bin/sandkasten serve"
    assert "combined" in data["sets"]
    assert data["generated"]["environments_path"][0].endswith("/share/sandkasten/packages")


def test_vm_template_settings() -> None:
    modules = f"[ {nix_path(MODULE)} {nix_path(VM / 'sandkasten.nix')} ]"
    data = nix_eval(module_expr("{ }", """{
        generated = e.cfg.configFile.value;
        selected = map (p: p.name) (e.cfg.environmentPackages.combined e.cfg.environments).paths;
        ports = e.config.networking.firewall.allowedTCPPorts;
        assertions = e.config.assertions;
      }""", modules=modules))
    assert data["generated"]["port"] == 80
    assert data["generated"]["max_concurrent_jobs"] == 4
    assert data["generated"]["base_resource_usage_permits"] == 4
    assert data["generated"]["run_limits"]["time"] == 20
    assert data["selected"] == ["sandkasten-packages-all"]
    assert data["ports"] == [80]
    assert all(a["assertion"] for a in data["assertions"])
    msgspec.convert(data["generated"], Config)


def test_vm_template_flake() -> None:
    flake = nix_eval(f"""
      let f = import {nix_path(VM / 'flake.nix')}; in {{
        inputs = builtins.attrNames f.inputs;
        nixpkgs = f.inputs.nixpkgs.url;
        follows = f.inputs.sandkasten.inputs.nixpkgs.follows;
      }}""")
    assert flake == {"inputs": ["nixpkgs", "sandkasten"], "nixpkgs": "github:NixOS/nixpkgs/nixos-25.11",
                     "follows": "nixpkgs"}


def test_vm_test() -> None:
    result = nix_eval(f"""
      let
        t = import {nix_path(VM_TEST)} {{ }};
        e = import {nix_path(EVAL)} {{
          modules = [ {nix_path(MODULE)} (args: builtins.removeAttrs (t.nodes.server args) [ "environment" "virtualisation" ]) ];
        }};
      in {{
        inherit (t) name testScript;
        nodes = builtins.attrNames t.nodes;
        generated = e.cfg.configFile.value;
        ports = e.config.networking.firewall.allowedTCPPorts;
        selected = map (p: p.name) (e.cfg.environmentPackages.combined e.cfg.environments).paths;
      }}""")
    assert result["name"] == "sandkasten"
    assert result["nodes"] == ["client", "server"]
    assert result["ports"] == [8000]
    assert result["generated"]["max_concurrent_jobs"] == 2
    assert len(result["selected"]) == 1 and result["selected"][0].startswith("sandkasten-python-")
    # The driver defines start_all, subtest and the machines; the script must at least compile.
    compile(result["testScript"], "basic.nix:testScript", "exec")
