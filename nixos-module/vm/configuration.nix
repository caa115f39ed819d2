# The machine around the service: boot loader, access, Nix housekeeping.
{ pkgs, ... }:
{
  # The installer replaces the device with the disk it partitioned.
  boot.loader.grub.enable = true;
  boot.loader.grub.device = "/dev/sda";
  boot.loader.timeout = 2;
  boot.tmp.useTmpfs = true;

  networking.hostName = "sandkasten";
  time.timeZone = "UTC";
  console.keyMap = "us";

  # Console access on the VM's screen; SSH only with keys (add yours below).
  services.getty.autologinUser = "root";
  services.openssh = {
    enable = true;
    settings.PermitRootLogin = "prohibit-password";
    settings.PasswordAuthentication = false;
  };
  users.users.root.openssh.authorizedKeys.keys = [ ];

  nix = {
    settings.experimental-features = [
      "nix-command"
      "flakes"
    ];
    settings.auto-optimise-store = true;
    gc = {
      automatic = true;
      dates = "daily";
      options = "--delete-older-than 7d";
    };
  };

  environment.systemPackages = with pkgs; [
    curl
    git
    htop
    jq
  ];

  system.stateVersion = "25.11";
}
