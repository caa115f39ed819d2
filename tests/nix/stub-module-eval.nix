# A very small stand-in for the NixOS module system, enough to evaluate nixos-module/default.nix
# (and the flake's `nixosModules.sandkasten` wrapper) where nixpkgs cannot be fetched
# (tests/nix/test_module.py).
#
# * `lib`: tests/nix/stub-pkgs.nix's lib plus minimal mkOption, mkEnableOption, mkIf, mkDefault,
#   literalExpression, recursiveUpdate and `types` whose `check` is a plain predicate.
# * `pkgs`: the stand-in of stub-pkgs.nix plus `formats.json` (its `generate` keeps the value
#   and its JSON text instead of writing a file) and fake iproute2, nftables, slirp4netns,
#   util-linux.
# * evaluation: modules (and their `imports`) are called with { config, lib, pkgs, options };
#   every definition of a `services.sandkasten.<name>` option is collected from the given
#   `config` and from modules whose config is a plain attribute set, the one with the best
#   priority wins (plain 100, mkDefault 1000, option default 1500), it is type-checked, unknown
#   and read-only definitions are errors. The `config` part of each module is returned with
#   mkIf resolved (false: nothing) and mkDefault unwrapped; nothing is merged between modules.
#
# This is NOT nixpkgs' lib.evalModules: no merging of option values, no submodules, no
# assertions/warnings processing, no other NixOS modules (systemd, networking).
{
  modules ? [ ../../nixos-module/default.nix ],
  config ? { },
}:
let
  stub = import ./stub-pkgs.nix { };

  fake =
    name: extra:
    {
      type = "derivation";
      inherit name;
      outPath = "/nix/store/fake-${name}";
    }
    // extra;

  isDerivation = v: builtins.isAttrs v && (v.type or null) == "derivation";

  jsonCheck =
    v:
    v == null
    || builtins.isBool v
    || builtins.isInt v
    || builtins.isFloat v
    || builtins.isString v
    || builtins.isPath v
    || (builtins.isList v && builtins.all jsonCheck v)
    || (builtins.isAttrs v && !(isDerivation v) && builtins.all jsonCheck (builtins.attrValues v));

  lib = stub.lib // rec {
    mkOption = attrs: attrs // { _type = "option"; };
    mkEnableOption =
      name:
      mkOption {
        type = types.bool;
        default = false;
        example = true;
        description = "Whether to enable ${name}.";
      };
    mkIf = condition: content: {
      _type = "if";
      inherit condition content;
    };
    mkDefault = content: {
      _type = "override";
      priority = 1000;
      inherit content;
    };
    literalExpression = text: {
      _type = "literalExpression";
      inherit text;
    };
    recursiveUpdate =
      lhs: rhs:
      lhs
      // builtins.mapAttrs (
        name: value:
        if
          lhs ? ${name}
          && builtins.isAttrs lhs.${name}
          && builtins.isAttrs value
          && !(isDerivation lhs.${name})
          && !(isDerivation value)
        then
          recursiveUpdate lhs.${name} value
        else
          value
      ) rhs;
    types = {
      bool = {
        name = "bool";
        check = builtins.isBool;
      };
      package = {
        name = "package";
        check = isDerivation;
      };
      attrs = {
        name = "attrs";
        check = builtins.isAttrs;
      };
      path = {
        name = "path";
        check = v: (builtins.isPath v) || (lib.hasPrefix "/" (toString v));
      };
      listOf = t: {
        name = "listOf ${t.name}";
        check = v: builtins.isList v && builtins.all t.check v;
      };
      functionTo = t: {
        name = "functionTo ${t.name}";
        check = builtins.isFunction;
      };
    };
  };

  pkgs = stub // {
    inherit lib;
    stdenv.hostPlatform.system = "x86_64-linux";
    formats.json = _: {
      type = {
        name = "json value";
        check = jsonCheck;
      };
      generate =
        name: value:
        fake name {
          inherit value;
          text = builtins.toJSON value;
        };
    };
    iproute2 = fake "iproute2" { };
    nftables = fake "nftables" { };
    slirp4netns = fake "slirp4netns" { };
    util-linux = fake "util-linux" { };
  };

  # Modules and their imports, depth first.
  call =
    m:
    let
      f = if builtins.isFunction m then m else if builtins.isAttrs m then (_: m) else import m;
    in
    f {
      inherit lib pkgs options;
      config = evaluated;
    };
  collect =
    m:
    let
      r = call m;
    in
    [ r ] ++ builtins.concatLists (map collect (r.imports or [ ]));
  results = builtins.concatLists (map collect modules);

  # A module's config part: `config` when it declares options or says `config`, else itself.
  configOf =
    r:
    if r ? options || r ? config then
      r.config or { }
    else
      builtins.removeAttrs r [
        "imports"
        "_file"
        "key"
      ];

  options = builtins.foldl' (acc: r: lib.recursiveUpdate acc (r.options or { })) { } results;
  declared = options.services.sandkasten;

  # (priority, value) definitions of services.sandkasten.<name>.
  definitionsFrom =
    cfg:
    let
      set = (cfg.services or { }).sandkasten or { };
    in
    builtins.mapAttrs (
      _: v:
      if builtins.isAttrs v && (v._type or null) == "override" then
        {
          inherit (v) priority;
          value = v.content;
        }
      else
        {
          priority = 100;
          value = v;
        }
    ) set;
  # Module configs under mkIf are skipped (their condition may depend on these very options).
  plainConfigs = builtins.filter (c: (c._type or null) != "if") (map configOf results);
  definitions = map definitionsFrom ([ config ] ++ plainConfigs);

  unknown = builtins.filter (name: !(declared ? ${name})) (
    builtins.concatLists (map builtins.attrNames definitions)
  );

  resolve =
    name: opt:
    let
      defs = builtins.filter (d: d != null) (map (ds: ds.${name} or null) definitions);
      best = builtins.foldl' (a: d: if d.priority < a.priority then d else a) {
        priority = 1500;
        value = opt.default or (throw "services.sandkasten.${name} has no value");
      } defs;
    in
    if (opt.readOnly or false) && defs != [ ] then
      throw "services.sandkasten.${name} is read-only"
    else if opt.type.check best.value then
      best.value
    else
      throw "services.sandkasten.${name}: not a ${opt.type.name}";

  sandkasten =
    if unknown != [ ] then
      throw "unknown option services.sandkasten.${builtins.head unknown}"
    else
      builtins.mapAttrs resolve declared;

  evaluated = {
    services.sandkasten = sandkasten;
  };

  strip =
    v:
    if builtins.isAttrs v && !(isDerivation v) then
      if (v._type or null) == "if" then
        (if v.condition then strip v.content else { })
      else if (v._type or null) == "override" then
        strip v.content
      else
        builtins.mapAttrs (_: strip) v
    else
      v;
in
{
  inherit lib pkgs options;
  cfg = sandkasten;
  # The config part of every module, mkIf/mkDefault resolved.
  configs = map (r: strip (configOf r)) results;
  # The config part of the module that declares services.sandkasten.
  config = strip (configOf (builtins.head (builtins.filter (r: r ? options) results)));
}
