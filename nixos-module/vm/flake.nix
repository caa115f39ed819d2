# A NixOS machine (VM) that serves sandkasten-py on port 80. Created from the sandkasten-py
# flake with `nix flake new --template <sandkasten-py flake>#vm`; an installer then writes
# hardware-configuration.nix, points `inputs.sandkasten.url` at the flake it installs from and
# sets the boot disk in configuration.nix.
#
# Update later with `nix flake update && nixos-rebuild switch --flake .#sandkasten`.
{
  description = "NixOS VM running sandkasten-py";

  inputs = {
    nixpkgs.url = "github:NixOS/nixpkgs/nixos-25.11";
    # Placeholder: the installer replaces this URL with the sandkasten-py flake it installs from.
    sandkasten.url = "git+https://example.invalid/sandkasten-py.git";
    sandkasten.inputs.nixpkgs.follows = "nixpkgs";
  };

  outputs =
    { nixpkgs, sandkasten, ... }:
    {
      nixosConfigurations.sandkasten = nixpkgs.lib.nixosSystem {
        system = "x86_64-linux";
        modules = [
          sandkasten.nixosModules.sandkasten
          ./hardware-configuration.nix
          ./configuration.nix
          ./sandkasten.nix
        ];
      };
    };
}
