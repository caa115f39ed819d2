# The sandkasten-py service of the VM: every environment, on port 80, open in the firewall.
# All keys of `settings` are described by the option (`man configuration.nix`, or
# nixos-module/default.nix of sandkasten-py); unset keys keep the values of its config.toml.
{ ... }:
{
  services.sandkasten = {
    enable = true;
    environments = p: [ p.all ];
    openFirewall = true;
    settings = {
      host = "0.0.0.0";
      port = 80;
      program_ttl = 300;
      prune_programs_interval = 60;
      max_concurrent_jobs = 4;
      compile_limits = {
        time = 30;
        memory = 1024;
        network = false;
      };
      run_limits = {
        time = 20;
        memory = 1024;
        network = false;
      };
    };
  };
}
