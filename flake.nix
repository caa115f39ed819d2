{
  description = "sandkasten-py: compile and run untrusted programs in nsjail behind a REST API";

  # The only input; flake.lock pins it (re-lock with `nix flake update` where GitHub is reachable).
  inputs.nixpkgs.url = "github:NixOS/nixpkgs/nixos-25.11";

  outputs =
    { self, nixpkgs }:
    let
      systems = [
        "x86_64-linux"
        "aarch64-linux"
      ];
      forAllSystems = f: nixpkgs.lib.genAttrs systems (system: f nixpkgs.legacyPackages.${system});

      version = (builtins.fromTOML (builtins.readFile ./pyproject.toml)).project.version;

      # The environments of nix/packages for a package set: `<id>`, `all` and `combined`.
      environmentsFor =
        pkgs:
        import ./nix/packages {
          inherit pkgs;
          sandkastenVersion = version;
        };
    in
    {
      # Every environment by id, `all` (every environment in one tree) and the daemon.
      packages = forAllSystems (
        pkgs:
        let
          sandkasten = pkgs.callPackage ./nix/sandkasten.nix { };
        in
        builtins.removeAttrs (environmentsFor pkgs) [ "combined" ]
        // {
          inherit sandkasten;
          default = sandkasten;
        }
      );

      # `combined` is a function (p: [ p.python p.all ... ] -> one tree), so it cannot be a package.
      legacyPackages = forAllSystems (pkgs: {
        inherit (environmentsFor pkgs) combined;
      });

      lib = {
        inherit version environmentsFor;
      };

      # ---- NixOS module, its VM test and the VM template (nixos-module/) -------------------
      # The module, with the daemon and the environment set defaulting to this flake's.
      nixosModules.sandkasten =
        { lib, pkgs, ... }:
        let
          system = pkgs.stdenv.hostPlatform.system;
        in
        {
          imports = [ ./nixos-module ];
          services.sandkasten = {
            package = lib.mkDefault self.packages.${system}.sandkasten;
            environmentPackages = lib.mkDefault (environmentsFor nixpkgs.legacyPackages.${system});
          };
        };
      nixosModules.default = self.nixosModules.sandkasten;

      checks = forAllSystems (pkgs: {
        module = pkgs.testers.runNixOSTest {
          imports = [ ./nixos-module/tests/basic.nix ];
          defaults.imports = [ self.nixosModules.sandkasten ];
        };
      });

      # `nix develop`: the tools and the `integration-tests` command (nix/devshell.nix).
      devShells = forAllSystems (pkgs: {
        default = import ./nix/devshell.nix {
          inherit pkgs;
          environments = environmentsFor pkgs;
        };
      });

      templates.vm = {
        path = ./nixos-module/vm;
        description = "A NixOS VM serving sandkasten-py on port 80";
      };
    };
}
