# NixOS module `services.sandkasten`: the sandkasten-py daemon as a systemd service.
#
# Usable on its own (`imports = [ ./nixos-module ]`: the daemon and the environments are then
# built from this checkout with the system's nixpkgs) or through the flake
# (`nixosModules.sandkasten`, which defaults `package` and `environmentPackages` to the flake's
# own outputs, built with the flake's pinned nixpkgs).
#
# The daemon's configuration is written as JSON (sandkasten_py/config.py reads a `.json`
# CONFIG_PATH as JSON) from config.toml's values, the `settings` option over them, and four keys
# that the service layout dictates (see `forced` below).
{
  config,
  lib,
  pkgs,
  ...
}:
let
  inherit (lib)
    mkOption
    mkEnableOption
    mkIf
    types
    literalExpression
    ;

  cfg = config.services.sandkasten;
  json = pkgs.formats.json { };

  # config.toml is the single source of the defaults (the same file `make serve` uses).
  defaults = builtins.fromTOML (builtins.readFile ../config.toml);

  stateDir = "/var/lib/sandkasten";
  runtimeDir = "/run/sandkasten"; # sandkasten_py/sandbox/network.py writes resolv.conf here

  # nix/sandkasten.nix puts the nsjail it wraps the daemon with into passthru.
  nsjail = cfg.package.nsjail or pkgs.nsjail;

  # The tree of the chosen environments; its share/sandkasten/packages holds <id>.json manifests.
  environmentsTree = cfg.environmentPackages.combined cfg.environments;

  # Keys the module decides: the directories must be the ones the unit makes writable
  # (ProtectSystem=strict), and the manifests and nsjail come from the store.
  forced = {
    environments_path = [ "${environmentsTree}/share/sandkasten/packages" ];
    programs_dir = "${stateDir}/programs";
    # Emptied at every start; on disk (not the /run tmpfs) because request files are written
    # there by the daemon, outside any job's memory limit.
    jobs_dir = "${stateDir}/jobs";
    nsjail_path = "${nsjail}/bin/nsjail";
  };
  forcedKeys = builtins.attrNames forced;
  userForced = builtins.filter (key: cfg.settings ? ${key}) forcedKeys;

  merged = lib.recursiveUpdate defaults cfg.settings;
  # The daemon refuses base_resource_usage_permits > max_concurrent_jobs; when only the latter
  # is lowered, lower the former with it.
  permits =
    if cfg.settings ? base_resource_usage_permits then
      { }
    else
      {
        base_resource_usage_permits =
          if merged.base_resource_usage_permits < merged.max_concurrent_jobs then
            merged.base_resource_usage_permits
          else
            merged.max_concurrent_jobs;
      };
  # gVisor's runsc from nixpkgs (`gvisor`) when some environment runs under it and none is set.
  gvisorEnvironments = (merged.gvisor or { }).environments or [ ];
  runsc = lib.optionalAttrs (gvisorEnvironments != [ ] && !((merged.gvisor or { }) ? runsc)) {
    gvisor.runsc = "${pkgs.gvisor}/bin/runsc";
  };
  finalSettings = lib.recursiveUpdate (lib.recursiveUpdate (merged // permits) runsc) forced;
  configFile = json.generate "sandkasten-config.json" finalSettings;

  # What the daemon calls: nsjail (also via nsjail_path) and, for jobs with `network: true`,
  # ip, nft, slirp4netns, nsenter and unshare (without them network is lowered to false).
  path = [
    nsjail
    pkgs.iproute2
    pkgs.nftables
    pkgs.slirp4netns
    pkgs.util-linux
  ];
in
{
  options.services.sandkasten = {
    enable = mkEnableOption "sandkasten, a REST service that builds and runs untrusted programs in nsjail";

    package = mkOption {
      type = types.package;
      default = pkgs.callPackage ../nix/sandkasten.nix { };
      defaultText = literalExpression "the daemon of this repository (nix/sandkasten.nix; the flake's `packages.\${system}.sandkasten`)";
      description = "The sandkasten-py daemon package (its `bin/sandkasten` is started).";
    };

    environmentPackages = mkOption {
      type = types.attrs;
      default = import ../nix/packages {
        inherit pkgs;
        sandkastenVersion = (builtins.fromTOML (builtins.readFile ../pyproject.toml)).project.version;
      };
      defaultText = literalExpression "import ./nix/packages { inherit pkgs; ... } (the flake's environments)";
      description = ''
        The environment package set of nix/packages: an attribute per environment id, `all`, and
        `combined` (a function from a selection to one tree). `environments` selects from it.
      '';
    };

    environments = mkOption {
      type = types.functionTo (types.listOf types.package);
      default = _: [ ];
      defaultText = literalExpression "_: [ ]";
      example = literalExpression "p: [ p.python p.rust ] # or p: [ p.all ]";
      description = ''
        The environments the daemon offers, as a function from the environment package set
        (`environmentPackages`: one attribute per environment id, plus `all`) to a list. The
        selection is joined with the set's `combined` and becomes `environments_path`.
      '';
    };

    settings = mkOption {
      type = json.type;
      default = { };
      example = literalExpression ''
        {
          port = 8080;
          max_concurrent_jobs = 4;
          run_limits.time = 10;
          run_limits.network = true;
        }
      '';
      description = ''
        The daemon's configuration (config.toml's keys; written as JSON and passed as
        `CONFIG_PATH`). Merged with `lib.recursiveUpdate` over the values of the repository's
        config.toml, so only changed keys need to be given. Keys and their defaults:

        - `host` (string, `"0.0.0.0"`): address to listen on.
        - `port` (integer 0–65535, `8000`): TCP port to listen on (see `openFirewall`).
        - `server` (string, `"/"`): path prefix under which a reverse proxy serves the API; only
          used as the OpenAPI server URL.
        - `enable_metrics` (bool, `false`): serve Prometheus metrics on `/metrics`.
        - `access_log` (bool, `true`): log one line per HTTP request (client, method, path,
          status, duration).
        - `slow_callback_ms` (integer ≥ 0, `0`): a diagnostic; above 0, the event loop runs in
          asyncio's debug mode and logs each callback that blocks it longer than this.
        - `program_ttl` (integer seconds, `600`): how long a program is kept after it was last
          built or run.
        - `prune_programs_interval` (integer seconds ≥ 1, `60`): time between two sweeps that
          delete expired programs.
        - `max_concurrent_jobs` (integer ≥ 1, `16`): build and run requests served at the same
          time; further requests wait.
        - `max_queued_jobs` (integer ≥ 0, `2000`): requests that may wait for their turn; past
          them a request is refused at once with 503 `busy` and `Retry-After: 1`.
        - `memory_budget` (integer MB ≥ 0, `0`): the memory limits of the jobs running at once
          add up to at most this; a job waits while its limit does not fit. `0`: the memory
          limit of the service's cgroup (`MemoryMax=`), or else the machine's memory.
        - `memory_budget_wait` (integer seconds ≥ 1, `60`): how long a job waits for room in
          the budget before its request is refused with 503 `busy` and `Retry-After`.
        - `base_resource_usage_runs` (integer ≥ 1, `20`): runs per resource-usage benchmark.
        - `base_resource_usage_permits` (integer ≥ 1, `16`, at most `max_concurrent_jobs`): job
          slots a benchmark occupies. When not set here it is lowered to `max_concurrent_jobs`
          if that is smaller.
        - `base_resource_usage_cache_ttl` (integer seconds, `3600`): how long a benchmark result
          is reused.
        - `use_cgroup` (bool, `true`): limit memory and processes with a cgroup per job
          (otherwise rlimits). On cgroup v2 the daemon uses the service's delegated cgroup
          (`Delegate=yes`): it moves itself into a `daemon` leaf and puts jobs under `jobs/`.
        - `cgroup_root` (string, `"/sys/fs/cgroup"`): where the cgroup file systems are mounted.
        - `cgroup_parent` (string, `"sandkasten"`): parent cgroup of the job cgroups; a relative
          parent on cgroup v2 means the service's own delegated cgroup.
        - `time_path` (string, optional): accepted for compatibility and ignored.
        - `compile_limits` and `run_limits` (attribute sets): the maximum, and default, limits of
          compile and run steps; a request may ask for less, never for more. Keys: `cpus`
          (CPUs, compile 1 / run 1), `time` (wall-clock seconds, 30 / 5), `memory` (MB,
          1024 / 256), `tmpfs` (MB of /tmp, 0 = none, 256 / 256), `filesize` (MB, largest file
          written, 16 / 16), `file_descriptors` (256 / 256), `processes` (processes and threads,
          256 / 64), `stdout_max_size` and `stderr_max_size` (bytes kept, 65536), `network`
          (bool, outbound network for the job, false / false; needs the tools this module puts
          on the service's PATH).
        - `storage_limits` (attribute set): caps on what jobs write, whatever a request asks.
          Keys: `program_size` (MB a compile step may write to /program, and so the most one
          program stores, 256), `program_files` (files and directories a build may keep,
          10000), `program_depth` (directory levels, 32), `tmp_files` (files and directories in
          a job's /tmp, 10000), `programs_size` (MB of disk all programs may take together;
          past it the least recently used are deleted early, 10000). Compile steps write
          /program into a tmpfs of that size; the build is copied into `programs_dir` within
          these caps.
        - `request_limits` (attribute set): sizes and counts a request may have, Sandkasten's
          values by default: `files` (10), `file_length` (characters, 65536), `stdin_length`
          (65536), `args` (100), `arg_length` (4096), `env_vars` (16), `env_var_length` (256),
          `body_size` (bytes, 33554432). Shown in `GET /config`.
        - `emcc_sandboxd` (attribute set): emcc-sandboxd's API under `/emcc-sandboxd`.
          `environment` (string, `"emcc"`; `""` turns the API off) compiles, with
          `default_args` (list of strings, emcc-sandboxd's four defaults) before a request's
          `args`; both pass that environment's compile_args allowlist.
        - `bg_compiler` (attribute set): bg-compiler's API under `/bg-compiler`. `images`
          (attribute set of strings): Docker image names (`python`, `golang`, `gcc`, ...) and
          the environment that runs each; `{ }` turns the API off.
        - `wasm` (attribute set): the WASI workers that run the run steps of environments whose
          runner is `wasmtime` (started only when one is enabled): `workers` (integer 1 to 64,
          `2`), `module_cache` (integer MB, `1000`: compiled modules kept under the state
          directory, `0` for none) and `fuel` (integer, `20000000000`: wasmtime's instruction budget of a run, one
          unit for about one WebAssembly instruction; running out is reported as the time
          limit). The package must be built with wasmtime-py for such environments.
        - `gvisor` (attribute set): gVisor as a second sandbox. `environments` (list of
          strings, `[ ]`): environments whose jobs run with runsc instead of nsjail, `"*"` for
          all whose runner is nsjail; `runsc` (string): the runsc binary, by default nixpkgs'
          `gvisor` when `environments` is not empty. Needs `use_cgroup`.
        - `sessions` (attribute set): interactive sessions over WebSocket. `idle_timeout`
          (integer seconds, `30`): a session without a client message and without output read
          for this long is ended; `output_buffer` (integer bytes, `1048576`): output held for a
          client that reads slowly, past which the program waits.
        - `auth` (attribute set): tokens (JWT), off by default. `secret_file` (string, a file
          with an HS256 secret of at least 32 bytes, readable by the service; keep it out of the
          Nix store) or `public_key_file` (string, an Ed25519 public key in PEM: EdDSA tokens).
          With one, every request but the documentation needs `Authorization: Bearer <token>`.

        Set by the module and not allowed here: `environments_path` (from `environments`),
        `programs_dir` (`/var/lib/sandkasten/programs`), `jobs_dir` (`/var/lib/sandkasten/jobs`)
        and `nsjail_path` (the nsjail of `package`). Environment variables of the service
        (`systemd.services.sandkasten.environment`, e.g. `RUN_LIMITS__TIME = "20"`) override the
        file, as described in config.toml.
      '';
    };

    openFirewall = mkOption {
      type = types.bool;
      default = false;
      description = "Open the daemon's TCP port (`settings.port`) in the firewall.";
    };

    configFile = mkOption {
      type = types.path;
      readOnly = true;
      default = configFile;
      defaultText = literalExpression "the generated sandkasten-config.json";
      description = "The generated configuration file (read-only; for inspection).";
    };
  };

  config = mkIf cfg.enable {
    assertions = [
      {
        assertion = userForced == [ ];
        message = "services.sandkasten.settings: ${builtins.concatStringsSep ", " userForced} are set by the module (use services.sandkasten.environments / package).";
      }
      # nsjail runs as root, so no sysctl for unprivileged user namespaces is needed; only
      # user namespaces switched off altogether (hardened profiles) stop it.
      {
        assertion = config.security.allowUserNamespaces or true;
        message = "services.sandkasten needs user namespaces (security.allowUserNamespaces) for nsjail.";
      }
      {
        assertion = finalSettings.base_resource_usage_permits <= finalSettings.max_concurrent_jobs;
        message = "services.sandkasten.settings: base_resource_usage_permits must not exceed max_concurrent_jobs.";
      }
    ];

    warnings = lib.optional (cfg.environments cfg.environmentPackages == [ ]) "services.sandkasten.environments selects no environment: the daemon will offer none.";

    networking.firewall.allowedTCPPorts = lib.optional cfg.openFirewall finalSettings.port;

    systemd.services.sandkasten = {
      description = "sandkasten-py: build and run untrusted programs in nsjail";
      wantedBy = [ "multi-user.target" ];
      after = [ "network.target" ];
      inherit path;
      environment.CONFIG_PATH = "${configFile}";

      serviceConfig = {
        ExecStart = "${cfg.package}/bin/sandkasten serve";
        Restart = lib.mkDefault "always";
        RestartSec = lib.mkDefault 1;
        # A job killed by the OOM killer must not take the daemon down with it.
        OOMPolicy = lib.mkDefault "continue";

        # programs/ and jobs/; the daemon mounts a capped tmpfs under jobs/ for every job's /tmp
        # and every compile step's /program (in the unit's own mount namespace, which
        # ProtectSystem gives it; they disappear with the service).
        StateDirectory = "sandkasten";
        # nsjail mounts program and job directories (and resolv.conf) into jails as the jail's
        # user, who must be able to pass through these directories: no 0700 here.
        StateDirectoryMode = "0711";
        RuntimeDirectory = "sandkasten"; # resolv.conf for jobs with network
        RuntimeDirectoryMode = "0755";

        # cgroup v2: the daemon gets the unit's cgroup to manage, moves itself into its `daemon`
        # leaf and makes one cgroup per job under `jobs/` (sandkasten_py/sandbox/cgroup.py).
        Delegate = true;
        # Stop kills the whole cgroup, running jobs included.
        KillMode = "control-group";

        # --- Hardening that nsjail and the network helpers allow --------------------------
        # Runs as root (no User=): nsjail writes uid/gid maps for 65534, creates user, mount,
        # pid, net, ipc, uts and cgroup namespaces, mounts the jail and pivots into it; the
        # daemon writes its delegated cgroups and `ip netns`/nft set up job networks.
        #
        # No-new-privileges keeps root's capabilities (nothing is gained by exec), nothing here
        # needs a setuid binary, and nsjail sets it for every job anyway.
        NoNewPrivileges = true;
        ProtectSystem = "strict";
        # (StateDirectory and RuntimeDirectory are writable anyway; listed for clarity.)
        ReadWritePaths = [
          stateDir
          runtimeDir
          # `ip netns add` bind-mounts namespace files here (jobs with network: true).
          "/run/netns"
        ];
        ProtectHome = true;
        # nsjail builds the jail's root in a temporary directory (it falls back to /tmp when
        # /run/user is not writable), so /tmp must be writable: the private one is.
        PrivateTmp = true;
        ProtectKernelModules = true;
        LockPersonality = true; # jobs may only query or reset personality anyway (seccomp.py)
        RestrictRealtime = true;
        RestrictSUIDSGID = true;
        SystemCallArchitectures = "native";
        # AF_NETLINK for ip/nft (and nsjail's interface setup); the jobs' own seccomp policy
        # restricts them further.
        RestrictAddressFamilies = [
          "AF_UNIX"
          "AF_INET"
          "AF_INET6"
          "AF_NETLINK"
        ];
        # The job directories must stay readable for the jail's uid 65534.
        UMask = "0022";

        # --- Hardening that could NOT be applied, and why --------------------------------
        # Seccomp-based settings are inherited by every job (nsjail is a child of the daemon
        # and seccomp filters survive fork and exec), so they must suit the jobs as well.
        # * MemoryDenyWriteExecute: would forbid writable+executable memory in jobs and break
        #   every JIT: the JVM (java, kotlin, scala, clojure), V8 (javascript, typescript), .NET
        #   (csharp), SBCL, Racket, Erlang's JIT, LuaJIT.
        # * SystemCallFilter: nsjail needs mount, pivot_root, unshare, setns, clone with
        #   namespace flags and uid-map writes; any group list small enough to matter would
        #   also cut into what compilers and runtimes do in jobs. Jobs get nsjail's own seccomp
        #   policy (sandkasten_py/sandbox/seccomp.py) instead.
        # * ProtectHostname: besides a UTS namespace it installs a seccomp filter against
        #   sethostname, and nsjail sets the jail's hostname in the job's UTS namespace (a
        #   failure there is fatal for nsjail).
        # * RestrictNamespaces: namespaces are nsjail's (and `ip netns`/unshare's) job.
        # * PrivateUsers, User=/DynamicUser: nsjail needs real root to map uid 65534, mount and
        #   chroot; a private user namespace would leave it without those rights on the host.
        # * ProtectControlGroups: makes /sys/fs/cgroup read-only, but the daemon writes its
        #   delegated subtree (job cgroups, limits, cgroup.procs).
        # * ProtectKernelTunables, ProtectKernelLogs, ProtectProc, ProcSubset: they cover parts
        #   of /proc with extra mounts (/proc/sys, /proc/kmsg, ...). Inside nsjail's user
        #   namespace those mounts are locked, and the kernel then refuses the fresh /proc that
        #   nsjail mounts in every jail (mount_too_revealing).
        # * PrivateDevices, DevicePolicy, ProtectClock (which adds a device allow-list):
        #   slirp4netns opens /dev/net/tun for jobs with network, and nsjail bind-mounts device
        #   nodes from the host /dev into the jail.
        # * PrivateNetwork: the daemon serves HTTP on the host network; every job already gets
        #   its own network namespace from nsjail.
        # * CapabilityBoundingSet: untested here; nsjail needs at least CAP_SYS_ADMIN,
        #   CAP_SETUID, CAP_SETGID, CAP_SETPCAP, CAP_SYS_CHROOT, CAP_NET_ADMIN, CAP_SYS_RESOURCE,
        #   CAP_KILL, CAP_DAC_OVERRIDE, CAP_CHOWN, CAP_FOWNER (and CAP_NET_BIND_SERVICE for
        #   ports < 1024). A list to try in the VM test, not one to ship unverified.
      };
    };

    # `ip netns` needs the directory; with ProtectSystem=strict the unit cannot create it.
    systemd.tmpfiles.rules = [ "d /run/netns 0755 root root -" ];
  };
}
