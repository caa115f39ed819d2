# A stand-in for nixpkgs, for evaluating nix/packages/default.nix, nix/sandkasten.nix and
# flake.nix where nixpkgs cannot be fetched (tests/nix/test_nix.py).
#
# * `lib`: the few nixpkgs lib functions those files use, written again with builtins, with the
#   same results for the inputs they get.
# * `writeShellScript` and `writeText` write their text with builtins.toFile, so the scripts and
#   the manifest really exist in the store and can be read back.
# * `runCommand`, `symlinkJoin`, `closureInfo` and `buildPythonApplication` build nothing: they
#   return a fake derivation that keeps its arguments for inspection.
# * every attribute named in a description's `[nix].packages` / `[nix].version` (dotted names
#   too) is a fake package with version "fake-version-of-<name>" and outPath
#   "/nix/store/fake-<name>"; `withPackages` returns "<name>-with-<python packages>";
# * except the attributes that nixos-25.11 keeps only as aliases that throw (removed packages,
#   read in its pkgs/top-level/aliases.nix; tests/nix/NIXPKGS-ATTRIBUTES.md): they throw here
#   too, so a description naming one fails as it would with the real nixpkgs;
# * `fetchurl` returns a fake derivation keeping its url and hash (`hash` or `sha256`).
#
# Whether the other names exist in real nixpkgs is recorded, with what was read, in
# tests/nix/NIXPKGS-ATTRIBUTES.md.
{
  packagesDir ? ../../nix/packages,
}:
let
  regexSpecials = [
    "\\"
    "["
    "{"
    "("
    ")"
    "^"
    "$"
    "?"
    "*"
    "+"
    "|"
    "."
  ];
  lib = rec {
    escapeRegex = builtins.replaceStrings regexSpecials (map (c: "\\${c}") regexSpecials);
    splitString =
      sep: s: builtins.filter builtins.isString (builtins.split (escapeRegex (toString sep)) (toString s));
    hasAttrByPath =
      path: set:
      if path == [ ] then
        true
      else
        let
          name = builtins.head path;
        in
        builtins.isAttrs set && set ? ${name} && hasAttrByPath (builtins.tail path) set.${name};
    getAttrFromPath =
      path: set:
      if hasAttrByPath path set then
        builtins.foldl' (s: name: s.${name}) set path
      else
        throw "cannot find attribute '${builtins.concatStringsSep "." path}'";
    # Like nixpkgs: unquoted when only safe characters, else in single quotes.
    escapeShellArg =
      arg:
      let
        string = toString arg;
      in
      if builtins.match "[[:alnum:],._+:@%/-]+" string == null then
        "'${builtins.replaceStrings [ "'" ] [ "'\\''" ] string}'"
      else
        string;
    getBin = p: p.bin or p.out or p;
    makeBinPath = packages: builtins.concatStringsSep ":" (map (p: "${getBin p}/bin") packages);
    optional = cond: elem: if cond then [ elem ] else [ ];
    optionalAttrs = cond: attrs: if cond then attrs else { };
    last = list: builtins.elemAt list (builtins.length list - 1);
    zipListsWith =
      f: a: b:
      builtins.genList (i: f (builtins.elemAt a i) (builtins.elemAt b i)) (
        if builtins.length a < builtins.length b then builtins.length a else builtins.length b
      );
    genAttrs =
      names: f:
      builtins.listToAttrs (
        map (name: {
          inherit name;
          value = f name;
        }) names
      );
    hasPrefix = prefix: s: builtins.substring 0 (builtins.stringLength prefix) s == prefix;
    hasSuffix =
      suffix: s:
      let
        ls = builtins.stringLength s;
        lx = builtins.stringLength suffix;
      in
      ls >= lx && builtins.substring (ls - lx) lx s == suffix;
    removePrefix =
      prefix: s:
      if hasPrefix prefix s then
        builtins.substring (builtins.stringLength prefix) (builtins.stringLength s) s
      else
        s;
    licenses.mit = {
      spdxId = "MIT";
    };
    platforms.linux = [
      "x86_64-linux"
      "aarch64-linux"
    ];
  };

  fakeDerivation =
    name: extra:
    {
      type = "derivation";
      inherit name;
      outPath = "/nix/store/fake-${name}";
    }
    // extra;

  runtimeShell = "/nix/store/fake-bash/bin/bash";

  # What the descriptions ask nixpkgs for.
  entries = builtins.readDir packagesDir;
  descriptions = map (id: builtins.fromTOML (builtins.readFile (packagesDir + "/${id}/package.toml"))) (
    builtins.filter (
      id: entries.${id} == "directory" && builtins.pathExists (packagesDir + "/${id}/package.toml")
    ) (builtins.attrNames entries)
  );
  nixTables = map (d: d.nix or { }) descriptions;
  attributeNames =
    [
      "bash"
      "coreutils"
    ]
    ++ builtins.concatLists (
      map (n: (n.packages or [ ]) ++ (if n ? version then [ n.version ] else [ ])) nixTables
    );
  pythonPackageNames = builtins.concatLists (map (n: n.python_packages or [ ]) nixTables);

  fakePackage =
    name:
    fakeDerivation name {
      pname = name;
      version = "fake-version-of-${name}";
      withPackages =
        select: fakePackage "${name}-with-${builtins.concatStringsSep "-" (map (p: p.pname) (select pythonSet))}";
    };
  pythonSet = lib.genAttrs pythonPackageNames fakePackage;

  # { a.b = fake "a.b"; } for "a.b"; attribute sets met on the way are merged.
  nested =
    path: value:
    builtins.foldl' (acc: name: { ${name} = acc; }) value (
      builtins.genList (i: builtins.elemAt path (builtins.length path - 1 - i)) (builtins.length path)
    );
  merge =
    a: b:
    a
    // builtins.mapAttrs (
      name: value:
      if a ? ${name} && builtins.isAttrs a.${name} && builtins.isAttrs value then
        merge a.${name} value
      else
        value
    ) b;
  fakes = builtins.foldl' (
    acc: name: merge acc (nested (lib.splitString "." name) (fakePackage name))
  ) { } attributeNames;

  # The daemon's Python dependencies (nix/sandkasten.nix) and nsjail.
  python3Packages =
    lib.genAttrs [
      "setuptools"
      "wheel"
      "starlette"
      "hypercorn"
      "msgspec"
      "jinja2"
      "prometheus-client"
      "requests"
      "websockets"
      "pyjwt"
      "cryptography"
      "pytestCheckHook"
      "hypothesis"
      "httpx"
    ] fakePackage
    // {
      buildPythonApplication =
        args: fakeDerivation "${args.pname}-${args.version}" (args // { inherit args; });
    };

  # Removed packages that nixos-25.11's pkgs/top-level/aliases.nix turns into a throw (not all
  # of them: those near what the descriptions name).
  removed = lib.genAttrs [
    "gdc"
    "gdc11"
    "gdmd"
    "gnat11"
    "gnat12"
    "gfortran9"
    "gfortran10"
    "gfortran11"
    "gfortran12"
    "python311Full"
    "ruby_3_1"
    "ruby_3_2"
  ] (name: throw "${name} has been removed from Nixpkgs (stand-in for pkgs/top-level/aliases.nix)");

  pkgs = fakes // removed // {
    inherit lib runtimeShell python3Packages;
    nsjail = fakePackage "nsjail";
    gvisor = fakePackage "gvisor";

    callPackage =
      fn: overrides:
      let
        f = if builtins.isFunction fn then fn else import fn;
      in
      f (builtins.intersectAttrs (builtins.functionArgs f) pkgs // overrides);

    fetchurl =
      {
        url,
        hash ? null,
        sha256 ? null,
      }:
      fakeDerivation (lib.last (lib.splitString "/" url)) {
        inherit url hash sha256;
      };
    writeShellScript = name: text: builtins.toFile name "#!${runtimeShell}\n${text}";
    writeText = name: text: builtins.toFile name text;
    closureInfo =
      { rootPaths }:
      fakeDerivation "closure-info" {
        inherit rootPaths;
      };
    runCommand =
      name: env: buildCommand:
      fakeDerivation name (
        builtins.removeAttrs env [ "passthru" ]
        // {
          inherit buildCommand;
        }
        // env.passthru or { }
      );
    symlinkJoin = args: fakeDerivation args.name args;
    writeShellScriptBin = name: text: fakeDerivation name {
      text = builtins.toFile name "#!${runtimeShell}\n${text}";
    };
    mkShell = args: fakeDerivation "shell" args;
    # tools of the dev shell (nix/devshell.nix)
    iproute2 = fakePackage "iproute2";
    nftables = fakePackage "nftables";
    slirp4netns = fakePackage "slirp4netns";
    util-linux = fakePackage "util-linux";
    shellcheck = fakePackage "shellcheck";
    python3 = fakePackage "python3" // {
      withPackages = f: fakePackage "python3-env";
    };
  };
in
pkgs
