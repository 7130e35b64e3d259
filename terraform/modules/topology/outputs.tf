output "ingress_rules" {
  description = "Stateful ingress rules for the node subnet: operator-only SSH/API, optional NodePorts, all inside the VCN."
  value       = local.ingress_rules
  depends_on  = [terraform_data.guards]
}

output "nodes" {
  description = "The nodes to create: name, role, OCPUs and memory."
  value       = local.nodes
  depends_on  = [terraform_data.guards]
}

output "totals" {
  description = "What the nodes and load balancer add up to, for comparison with the free tier."
  value       = local.totals
}

output "open_cidrs_found" {
  description = "Allowed-CIDR entries that open a port to the whole internet."
  value       = local.open_cidrs_found
}
