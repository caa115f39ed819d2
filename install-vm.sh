#!/usr/bin/env bash
# Install NixOS with the sandkasten-py service onto a (virtual) disk, from a NixOS installer.
# Run `install-vm.sh --help` for the arguments; `--dry-run` prints the plan and changes nothing.
set -euo pipefail

prog=${0##*/}
here=$(cd "$(dirname "$0")" && pwd)

usage() {
    cat <<EOF
Usage: $prog [options] [DISK [ROOT_PARTITION]]

Erase DISK and install NixOS with the sandkasten-py service on it (boot from a NixOS
installer image first). The flake of the installed system is kept in /root/sandkasten;
update it later with: cd /root/sandkasten && nix flake update && nixos-rebuild switch --flake .

Steps: one DOS-labelled disk with one bootable partition; ext4 on it, mounted at /mnt; the VM
flake template copied to /mnt/root/sandkasten, its sandkasten input pointed at FLAKE; the
hardware configuration generated; the GRUB device set to DISK; nixos-install; unmount; reboot.

Options:
  --disk DISK        disk to erase and install on (default: /dev/sda)
  --root PARTITION   the root partition the disk gets (default: DISK1, or DISKp1 when the
                     disk name ends in a digit, e.g. /dev/nvme0n1p1, /dev/loop0p1)
  --flake URL        the sandkasten-py flake (default: \$FLAKE, else this checkout:
                     path:$here). Its nixos-module/vm folder is copied when it is a local
                     path, otherwise the template URL#vm is used (nix flake new)
  --hostname NAME    host name of the installed system (default: the template's)
  --no-reboot        do not reboot when done
  --yes              do not ask before erasing DISK
  --dry-run          print every step, run nothing (root not needed)
  -h, --help         show this help

DISK and ROOT_PARTITION may also be given as positional arguments (as in Sandkasten's
install-vm.sh). The script refuses a disk of which a partition is mounted or used as swap.
EOF
}

die() {
    echo "$prog: $*" >&2
    exit 1
}

disk=/dev/sda
root=
flake=${FLAKE:-}
hostname=
reboot=1
dry_run=0
assume_yes=0
positional=()

need_value() {
    [[ $# -ge 2 && -n $2 ]] || die "option $1 needs a value (see --help)"
}

while [[ $# -gt 0 ]]; do
    case $1 in
        --disk) need_value "$@"; disk=$2; shift 2 ;;
        --disk=*) disk=${1#*=}; shift ;;
        --root) need_value "$@"; root=$2; shift 2 ;;
        --root=*) root=${1#*=}; shift ;;
        --flake) need_value "$@"; flake=$2; shift 2 ;;
        --flake=*) flake=${1#*=}; shift ;;
        --hostname) need_value "$@"; hostname=$2; shift 2 ;;
        --hostname=*) hostname=${1#*=}; shift ;;
        --no-reboot) reboot=0; shift ;;
        --yes) assume_yes=1; shift ;;
        --dry-run) dry_run=1; shift ;;
        -h | --help) usage; exit 0 ;;
        --) shift; positional+=("$@"); break ;;
        -*) die "unknown option: $1 (see --help)" ;;
        *) positional+=("$1"); shift ;;
    esac
done
[[ ${#positional[@]} -le 2 ]] || die "too many arguments: ${positional[*]} (see --help)"
[[ ${#positional[@]} -ge 1 ]] && disk=${positional[0]}
[[ ${#positional[@]} -ge 2 ]] && root=${positional[1]}
[[ -n $disk ]] || die "empty disk name"
if [[ -z $root ]]; then
    if [[ $disk =~ [0-9]$ ]]; then root=${disk}p1; else root=${disk}1; fi
fi
[[ -n $flake ]] || flake=path:$here
if [[ -n $hostname && ! $hostname =~ ^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$ ]]; then
    die "invalid host name: $hostname"
fi
[[ $flake != *[\\\"\|\&]* ]] || die "invalid flake URL: $flake"
flake=${flake%#*}  # Sandkasten's FLAKE named the template (URL#vm); the URL is what counts

mnt=/mnt
target=$mnt/root/sandkasten

# The local folder of a path flake, whose template is copied (no templates output needed).
template_dir=
case $flake in
    path:*) template_dir=${flake#path:}; template_dir=${template_dir%%\?*} ;;
    /* | ./* | ../*) template_dir=$flake ;;
esac
[[ -z $template_dir ]] || template_dir=$template_dir/nixos-module/vm

# --- Safety checks (also in dry-run mode) ---

if [[ $dry_run == 0 && $(id -u) != 0 ]]; then
    die "must run as root (or use --dry-run)"
fi

if [[ -b $disk ]]; then
    :
elif [[ $dry_run == 1 ]]; then
    echo "# note: $disk is not a block device (dry run: planning anyway)"
else
    die "$disk is not a block device"
fi

# Is DISK, or one of its partitions, mounted or used as swap? By name (/proc/mounts,
# /proc/swaps, resolved symlinks) and, for block devices, by lsblk, which also sees holders
# (LVM, dm-crypt) and aliases such as /dev/root.
disk_real=$(readlink -f -- "$disk" 2>/dev/null || printf '%s' "$disk")
belongs_to_disk() {
    local dev
    dev=$(readlink -f -- "$1" 2>/dev/null || printf '%s' "$1")
    [[ $dev == "$disk_real" || $dev =~ ^"$disk_real"p?[0-9]+$ ]]
}
in_use=()
while read -r source mountpoint _; do
    [[ $source == /* ]] || continue
    mountpoint=$(printf '%b' "$mountpoint")  # /proc/mounts escapes blanks as \040
    belongs_to_disk "$source" && in_use+=("$source on $mountpoint")
done </proc/mounts
if [[ -r /proc/swaps ]]; then
    while read -r source _; do
        [[ $source == /* ]] || continue
        belongs_to_disk "$source" && in_use+=("$source as swap")
    done </proc/swaps
fi
if [[ -b $disk ]] && command -v lsblk >/dev/null; then
    while IFS= read -r mountpoint; do
        [[ -n $mountpoint ]] && in_use+=("$disk (or a partition or holder of it) on $mountpoint")
    done < <(lsblk -nro MOUNTPOINT -- "$disk" 2>/dev/null || true)
fi
if [[ ${#in_use[@]} -gt 0 ]]; then
    printf '%s: refusing to erase %s: it is in use:\n' "$prog" "$disk" >&2
    printf '  %s\n' "${in_use[@]}" >&2
    exit 1
fi
if [[ $dry_run == 0 ]] && mountpoint -q "$mnt"; then
    die "$mnt is already a mount point; unmount it first"
fi

# --- The steps: printed, and run unless --dry-run ---

# show ARGS...: the words as a shell would read them back, plain when they need no quotes.
show() {
    local word sep=
    for word in "$@"; do
        if [[ $word =~ ^[A-Za-z0-9_@%+=:,./#-]+$ ]]; then
            printf '%s%s' "$sep" "$word"
        elif [[ $word == *$'\n'* ]]; then
            printf '%s%q' "$sep" "$word"
        else
            printf "%s'%s'" "$sep" "${word//\'/\'\\\'\'}"
        fi
        sep=' '
    done
}
# run CMD ARGS...: print the command, then run it.
run() {
    printf '+ %s\n' "$(show "$@")"
    [[ $dry_run == 1 ]] || "$@"
}
# run_to FILE CMD ARGS...: the same with stdout written to FILE.
run_to() {
    local file=$1
    shift
    printf '+ %s > %s\n' "$(show "$@")" "$(show "$file")"
    [[ $dry_run == 1 ]] || "$@" >"$file"
}
# run_in TEXT CMD ARGS...: the same with TEXT on stdin.
run_in() {
    local text=$1
    shift
    printf '+ printf %%s %s | %s\n' "$(show "$text")" "$(show "$@")"
    [[ $dry_run == 1 ]] || printf '%s' "$text" | "$@"
}

if [[ $dry_run == 0 && $assume_yes == 0 ]]; then
    [[ -t 0 ]] || die "this erases $disk: confirm with --yes when not running interactively"
    read -r -p "This erases everything on $disk. Continue? [y/N] " answer
    [[ $answer == [yY]* ]] || die "aborted"
fi

nix_flags=(--extra-experimental-features 'nix-command flakes')

# 1. A DOS partition table with one bootable Linux partition over the whole disk.
run_in $'label: dos\n,,L,*\n' sfdisk --wipe always --wipe-partitions always -- "$disk"
run udevadm settle
if [[ $dry_run == 0 ]]; then
    for _ in 1 2 3 4 5 6 7 8 9 10; do [[ -b $root ]] && break; sleep 1; done
    [[ -b $root ]] || die "$root did not appear after partitioning (use --root)"
fi

# 2. The file system, mounted at /mnt.
run mkfs.ext4 -F -L nixos -- "$root"
run mount -- "$root" "$mnt"

# 3. The system's flake from the VM template.
run mkdir -p -- "$mnt/root"
if [[ -n $template_dir ]]; then
    [[ $dry_run == 1 || -f $template_dir/flake.nix ]] || die "no VM template at $template_dir"
    run cp -rT -- "$template_dir" "$target"
    run chmod -R u+w -- "$target"
else
    run nix "${nix_flags[@]}" flake new --template "$flake#vm" -- "$target"
fi

# 4. Its sandkasten input points at FLAKE (the template's line `sandkasten.url = "...";`).
input_re='^([[:space:]]*(inputs\.)?sandkasten\.url[[:space:]]*=[[:space:]]*)"[^"]*"'
run grep -Eq -- "$input_re" "$target/flake.nix"
run sed -E -i -e "s|$input_re|\\1\"$flake\"|" -- "$target/flake.nix"

# 5. The hardware configuration of this machine.
run_to "$target/hardware-configuration.nix" nixos-generate-config --root "$mnt" --show-hardware-config

# 6. GRUB goes to DISK; optionally another host name (configuration.nix).
grub_re='^([[:space:]]*(boot\.loader\.grub\.)?device[[:space:]]*=[[:space:]]*)"[^"]*"'
run grep -Eq -- "$grub_re" "$target/configuration.nix"
run sed -E -i -e "s|$grub_re|\\1\"$disk\"|" -- "$target/configuration.nix"
if [[ -n $hostname ]]; then
    host_re='^([[:space:]]*(networking\.)?hostName[[:space:]]*=[[:space:]]*)"[^"]*"'
    run grep -Eq -- "$host_re" "$target/configuration.nix"
    run sed -E -i -e "s|$host_re|\\1\"$hostname\"|" -- "$target/configuration.nix"
fi

# 7. Install (root's password: the template's initial one, none is asked for).
run nixos-install --root "$mnt" --flake "$target#sandkasten" --no-channel-copy --no-root-password

# 8. Done.
run umount -R -- "$mnt"
if [[ $reboot == 1 ]]; then
    run reboot
else
    echo "# installed; not rebooting (--no-reboot)"
fi
