# The environments as Nix packages: every folder of this directory with a `package.toml` and a
# `[nix]` table becomes a derivation installing `share/sandkasten/packages/<id>.json`, the manifest
# the daemon reads (see README.md beside this file for the folder format).
#
# Result: `<id>` for every environment, `all` (all of them in one tree) and
# `combined = f: ...` (a tree of the packages `f` picks from `<id>`s and `all`).
# Each environment package has `passthru.manifest` (the manifest as a Nix value), `runScript`,
# `compileScript` (or null), `closureInfo` and `npm` (the folder of its `[[npm]]` packages, or null).
#
# Only long-standing nixpkgs functions are used (lib.makeBinPath, hasAttrByPath, getAttrFromPath,
# splitString, escapeShellArg, optional, last, zipListsWith; fetchurl and the trivial builders writeShellScript,
# writeText, closureInfo, runCommand, symlinkJoin), so that tests/nix/stub-pkgs.nix can stand in
# for nixpkgs in CI, where nixpkgs cannot be fetched.
{
  pkgs,
  lib ? pkgs.lib,
  sandkastenVersion,
  # The folder of environment descriptions (tests point this at a folder of their own).
  packagesDir ? ./.,
}:
let
  # Variables the daemon gives every job script (sandkasten_py/jobvars.py); the header un-exports
  # them so the program only sees what its request asked for.
  jobVariables = [
    "SANDKASTEN_MEMORY_MB"
    "SANDKASTEN_CPUS"
    "SANDKASTEN_COMPILE_ARGS"
  ];

  # Always on PATH after an environment's own tools, as the host builder always puts bash and
  # coreutils into a job's /usr/bin (scripts use cp, mkdir, cat ... without listing coreutils).
  alwaysTools = [
    "bash"
    "coreutils"
  ];

  # The keys of `[nix]` this builder knows; others are reported (with builtins.trace) and ignored.
  nixKeys = [
    "packages"
    "version"
    "python_packages"
  ];

  # `[[npm]]`: packages of the npm registry, the same tarballs as the host builder's
  # (sandkasten_py/hostbuild/npm.py), checked by their integrity hash; unpacked into one folder
  # that the scripts find as $SANDKASTEN_NPM (not exported to the programs they start).
  npmFolder =
    id: entries:
    let
      fetch =
        entry:
        pkgs.fetchurl {
          url = "https://registry.npmjs.org/${entry.name}/-/${lib.last (lib.splitString "/" entry.name)}-${entry.version}.tgz";
          hash = entry.integrity;
        };
      tarballs = map fetch entries;
      unpack =
        entry: tarball:
        "mkdir -p $out/${entry.name} && tar -xzf ${tarball} --strip-components=1 -C $out/${entry.name}";
    in
    pkgs.runCommand "sandkasten-${id}-npm" { passthru = { inherit tarballs; }; } (
      builtins.concatStringsSep "\n" (
        [ "mkdir -p $out" ] ++ lib.zipListsWith unpack entries tarballs
      )
    );

  # `build.sh` with `[build]`: files made once, when the environment is built (the JavaScript
  # runtime of javascript-wasm), from the same archives as the host builder's
  # (sandkasten_py/hostbuild/sources.py), checked by their SHA-256, with `[build].nix_packages`
  # on PATH; the scripts find the result as $SANDKASTEN_BUILT (not exported to their programs).
  builtFolder =
    id: build:
    let
      sources = build.sources or [ ];
      fetch = source: pkgs.fetchurl { inherit (source) url sha256; };
      archives = map fetch sources;
      copy = source: archive: "cp ${archive} ${lib.escapeShellArg (baseNameOf source.url)}";
      tools = map (attribute id) (build.nix_packages or [ ]) ++ map (attribute id) alwaysTools;
    in
    pkgs.runCommand "sandkasten-${id}-built"
      {
        passthru = { inherit archives; };
        env.PATH = lib.makeBinPath tools;
      }
      (
        builtins.concatStringsSep "\n" (
          [
            "mkdir -p $out"
            "cd \"$(mktemp -d)\""
          ]
          ++ lib.zipListsWith copy sources archives
          ++ [
            "SANDKASTEN_PACKAGE=${packagesDir + "/${id}"} bash -euo pipefail ${packagesDir + "/${id}/build.sh"}"
          ]
        )
      );

  # Names that are not environments in the result (and in the flake's packages).
  reserved = [
    "all"
    "combined"
    "default"
    "sandkasten"
  ];

  entries = builtins.readDir packagesDir;
  ids = builtins.filter (
    id: entries.${id} == "directory" && builtins.pathExists (packagesDir + "/${id}/package.toml")
  ) (builtins.attrNames entries);
  descriptions = builtins.listToAttrs (
    map (id: {
      name = id;
      value = builtins.fromTOML (builtins.readFile (packagesDir + "/${id}/package.toml"));
    }) ids
  );

  # `rel` inside the folder `id`, as the host builder allows it (no absolute path, no `..`).
  fileIn =
    id: what: rel:
    let
      parts = lib.splitString "/" rel;
    in
    if builtins.substring 0 1 rel == "/" || builtins.elem ".." parts then
      throw "nix/packages/${id}/package.toml: `${what}` must be a path inside the folder, not ${rel}"
    else if !builtins.pathExists (packagesDir + "/${id}/${rel}") then
      throw "nix/packages/${id}/package.toml: `${what}`: file ${rel} does not exist"
    else
      builtins.readFile (packagesDir + "/${id}/${rel}");

  required =
    id: table: prefix: key:
    if table ? ${key} && builtins.isString table.${key} && table.${key} != "" then
      table.${key}
    else
      throw "nix/packages/${id}/package.toml: missing or empty string `${prefix}${key}`";

  # A nixpkgs attribute by its dotted name ("python311", "llvmPackages.clang"). A removed package
  # often stays as an alias that throws (aliases.nix: `gdc = throw "gdc has been removed ..."`);
  # hasAttrByPath is true for it, so the attribute is also evaluated, and a throw named here.
  attribute =
    id: name:
    let
      path = lib.splitString "." name;
      value = builtins.tryEval (lib.getAttrFromPath path pkgs);
    in
    if !lib.hasAttrByPath path pkgs then
      throw "nix/packages/${id}/package.toml: `${name}` is not an attribute of nixpkgs"
    else if !value.success then
      throw "nix/packages/${id}/package.toml: `${name}` cannot be evaluated in this nixpkgs (removed, or an alias that throws)"
    else
      value.value;

  # A script body without its shebang line (the header brings its own).
  withoutShebang =
    body:
    if builtins.substring 0 2 body != "#!" then
      body
    else
      let
        firstLine = builtins.head (builtins.split "\n" body);
        start = builtins.stringLength firstLine + 1;
      in
      builtins.substring start (builtins.stringLength body) body;

  # The same header as the host builder's (sandkasten_py/hostbuild/builder.py `script_text`);
  # writeShellScript adds the shebang (`#!${runtimeShell}`).
  scriptText =
    path: env: npm: built: body:
    builtins.concatStringsSep "\n" (
      [
        "export PATH=${lib.escapeShellArg path}"
        "export -n ${builtins.concatStringsSep " " jobVariables}"
      ]
      ++ map (key: "export ${key}=${lib.escapeShellArg env.${key}}") (builtins.attrNames env)
      ++ lib.optional (npm != null) "SANDKASTEN_NPM=${npm}"
      ++ lib.optional (built != null) "SANDKASTEN_BUILT=${built}"
    )
    + "\n"
    + withoutShebang body;

  # The tools of an environment: `[nix].packages`, then bash and coreutils. With
  # `[nix].python_packages`, the Python interpreter among them (the attribute whose last name part
  # is pythonXY or pypyXY) is replaced by `python.withPackages`.
  toolsOf =
    id: nix:
    let
      names = nix.packages or [ ];
      pythonPackages = nix.python_packages or null;
      isPython =
        name: builtins.match "(python|pypy)[0-9]*" (lib.last (lib.splitString "." name)) != null;
      pythons = builtins.filter isPython names;
      tool =
        name:
        let
          package = attribute id name;
        in
        if pythonPackages != null && isPython name then
          package.withPackages (ps: map (n: ps.${n}) pythonPackages)
        else
          package;
    in
    if pythonPackages != null && builtins.length pythons != 1 then
      throw "nix/packages/${id}/package.toml: `nix.python_packages` needs exactly one Python interpreter (pythonXY) in `nix.packages`"
    else
      map tool names ++ map (attribute id) alwaysTools;

  environment =
    id:
    let
      where = "nix/packages/${id}/package.toml";
      desc = descriptions.${id};
      unknownKeys = builtins.filter (key: !builtins.elem key nixKeys) (builtins.attrNames desc.nix);
      nix =
        if unknownKeys == [ ] then
          desc.nix
        else
          builtins.trace "warning: ${where}: unknown keys in [nix] ignored: ${builtins.concatStringsSep ", " unknownKeys}" desc.nix;
      test = desc.test or (throw "${where}: missing required table `[test]`");
      env = desc.env or { };

      version =
        if desc ? version then
          desc.version
        else if nix ? version then
          (attribute id nix.version).version
            or (throw "${where}: nixpkgs attribute `${nix.version}` has no version")
        else
          throw "${where}: missing key `nix.version` (there is no fixed `version`)";
      label = "sandkasten-${id}-${version}";

      path = lib.makeBinPath (toolsOf id nix);
      npm = if desc ? npm && desc.npm != [ ] then npmFolder id desc.npm else null;
      built =
        if builtins.pathExists (packagesDir + "/${id}/build.sh") then
          builtFolder id (desc.build or { })
        else
          null;
      script =
        file: pkgs.writeShellScript "${label}-${file}" (scriptText path env npm built (fileIn id file file));
      runScript = script "run.sh";
      compileScript =
        if builtins.pathExists (packagesDir + "/${id}/compile.sh") then script "compile.sh" else null;
      closureInfo = pkgs.closureInfo {
        rootPaths = [ runScript ] ++ lib.optional (compileScript != null) compileScript;
      };

      manifest = {
        sandkasten_version = sandkastenVersion;
        name = required id desc "" "name";
        inherit version;
        meta = desc.meta or { };
        default_main_file_name = required id desc "" "default_main_file_name";
        example = if desc ? example then fileIn id "example" desc.example else null;
        test = {
          main_file.content = fileIn id "test.main_file" (required id test "test." "main_file");
          files = map (rel: {
            name = builtins.baseNameOf rel;
            content = fileIn id "test.files" rel;
          }) (test.files or [ ]);
        }
        // (if test ? expected then { inherit (test) expected; } else { });
        compile_script = if compileScript == null then null else "${compileScript}";
        run_script = "${runScript}";
        closure = "${closureInfo}/store-paths";
      }
      // (if desc ? runner then { inherit (desc) runner; } else { })
      // (if desc ? compile_args then { inherit (desc) compile_args; } else { });
      manifestFile = pkgs.writeText "${label}-manifest.json" (builtins.toJSON manifest);
    in
    pkgs.runCommand label
      {
        passthru = {
          inherit
            version
            manifest
            runScript
            compileScript
            closureInfo
            npm
            built
            ;
        };
        preferLocalBuild = true;
        allowSubstitutes = false;
      }
      ''
        mkdir -p $out/share/sandkasten/packages
        ln -s ${manifestFile} $out/share/sandkasten/packages/${id}.json
      '';

  # Environments without a [nix] table exist only for the host builder.
  nixIds = builtins.filter (id: descriptions.${id} ? nix) ids;

  reservedIds = builtins.filter (id: builtins.elem id reserved) nixIds;
  packages =
    if reservedIds != [ ] then
      throw "nix/packages/${builtins.head reservedIds}: `${builtins.head reservedIds}` cannot be an environment id (reserved: ${builtins.concatStringsSep ", " reserved})"
    else
      builtins.listToAttrs (
        map (id: {
          name = id;
          value = environment id;
        }) nixIds
      );

  all = pkgs.symlinkJoin {
    name = "sandkasten-packages-all";
    paths = builtins.attrValues packages;
  };
in
packages
// {
  inherit all;
  # For the NixOS module: `combined (p: [ p.python p.c ])` or `combined (p: [ p.all ])`.
  combined =
    f:
    pkgs.symlinkJoin {
      name = "sandkasten-packages-combined";
      paths = f (packages // { inherit all; });
    };
}
