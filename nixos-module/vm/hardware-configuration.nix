# A generic QEMU/KVM guest with one ext4 root partition. The installer overwrites this file with
# the output of `nixos-generate-config --show-hardware-config` for the real machine.
{ modulesPath, ... }:
{
  imports = [ (modulesPath + "/profiles/qemu-guest.nix") ];

  boot.initrd.availableKernelModules = [
    "ata_piix"
    "uhci_hcd"
    "virtio_pci"
    "virtio_scsi"
    "sd_mod"
    "sr_mod"
  ];

  fileSystems."/" = {
    device = "/dev/sda1";
    fsType = "ext4";
  };

  networking.useDHCP = true;
}
