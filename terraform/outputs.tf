# `infra:up` reads `terraform output -json cluster` and writes the Ansible inventory from it.

output "cluster" {
  description = "Everything the Ansible inventory and the benchmark need about the nodes."
  value = {
    region       = var.region
    ssh_user     = local.ssh_user
    architecture = "arm64"
    shape        = local.shape
    vcn_cidr     = local.vcn_cidr
    subnet_cidr  = local.subnet_cidr
    nodes = [
      for name, n in local.nodes : {
        name       = name
        role       = n.role
        ocpus      = n.ocpus
        memory_gb  = n.memory_gb
        public_ip  = oci_core_instance.node[name].public_ip
        private_ip = oci_core_instance.node[name].private_ip
      }
    ]
    load_balancer_ip = var.enable_load_balancer ? oci_load_balancer_load_balancer.front[0].ip_address_details[0].ip_address : null
  }
}

output "free_tier_totals" {
  description = "OCPU, memory, block storage and load balancer bandwidth this configuration uses."
  value       = module.topology.totals
}
