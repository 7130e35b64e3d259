# Pure computation: what the root module must create, and the guards that refuse an open
# CIDR or a size beyond the free tier. No provider, so `terraform test` runs offline.

terraform {
  required_version = ">= 1.7.0"
}

locals {
  open_cidr_lists = {
    ssh_allowed_cidrs           = var.ssh_allowed_cidrs
    api_allowed_cidrs           = var.api_allowed_cidrs
    nodeport_allowed_cidrs      = var.nodeport_allowed_cidrs
    load_balancer_allowed_cidrs = var.load_balancer_allowed_cidrs
  }
  # A prefix shorter than /8 admits at least 1/128 of the internet, so it counts as open:
  # not only /0, but also 0.0.0.0/1 + 128.0.0.0/1, which together admit every address.
  # An operator's own range (a /32, an office /24, a provider /16) passes.
  min_operator_prefix = 8
  open_cidrs_found = flatten([
    for name, cidrs in local.open_cidr_lists : [
      for c in cidrs : "${name}=\"${c}\"" if can(cidrhost(c, 0)) && try(tonumber(split("/", c)[1]), 0) < local.min_operator_prefix
    ]
  ])

  totals = {
    ocpus            = var.master_ocpus + var.worker_count * var.worker_ocpus
    memory_gb        = var.master_memory_gb + var.worker_count * var.worker_memory_gb
    block_storage_gb = (1 + var.worker_count) * var.boot_volume_gb
    lb_mbps          = var.enable_load_balancer ? var.load_balancer_mbps : 0
  }
  over_free_tier = [
    for k, v in local.totals : "${k}: ${v} > ${var.free_tier[k]}" if v > var.free_tier[k]
  ]

  vcn_prefix = try(tonumber(split("/", var.vcn_cidr)[1]), 0)
  # The subnet lies inside the VCN when its prefix is at least as long and its network
  # address, masked to the VCN's prefix, is the VCN's network address.
  subnet_inside_vcn = try(
    tonumber(split("/", var.subnet_cidr)[1]) >= local.vcn_prefix &&
    cidrhost("${cidrhost(var.subnet_cidr, 0)}/${local.vcn_prefix}", 0) == cidrhost(var.vcn_cidr, 0),
    false,
  )

  ingress_rules = concat(
    [for c in var.ssh_allowed_cidrs : {
      description = "SSH from operator"
      source      = c
      protocol    = "6"
      port_min    = 22
      port_max    = 22
    }],
    [for c in var.api_allowed_cidrs : {
      description = "Kubernetes API from operator"
      source      = c
      protocol    = "6"
      port_min    = 6443
      port_max    = 6443
    }],
    [for c in var.nodeport_allowed_cidrs : {
      description = "NodePorts"
      source      = c
      protocol    = "6"
      port_min    = 30000
      port_max    = 32767
    }],
    [for c in(var.enable_load_balancer ? var.load_balancer_allowed_cidrs : []) : {
      description = "Load balancer listener"
      source      = c
      protocol    = "6"
      port_min    = 80
      port_max    = 80
    }],
    [{
      description = "All traffic inside the VCN"
      source      = var.vcn_cidr
      protocol    = "all"
      port_min    = null
      port_max    = null
    }],
  )

  nodes = concat(
    [{
      name      = "master"
      role      = "control-plane"
      ocpus     = var.master_ocpus
      memory_gb = var.master_memory_gb
    }],
    [for i in range(var.worker_count) : {
      name      = "worker-${i + 1}"
      role      = "worker"
      ocpus     = var.worker_ocpus
      memory_gb = var.worker_memory_gb
    }],
  )
}

# Cross-variable guards. A precondition on a built-in resource fails the plan with its
# message, which works on every Terraform >= 1.7 and OpenTofu (unlike validation blocks
# that reference other variables, which need Terraform >= 1.9).
resource "terraform_data" "guards" {
  input = local.totals

  lifecycle {
    precondition {
      condition     = var.allow_open_cidrs || length(local.open_cidrs_found) == 0
      error_message = "Refusing an open CIDR (${join(", ", local.open_cidrs_found)}): a prefix shorter than /${local.min_operator_prefix} exposes the nodes to a large part of the internet. Use your own /32, or set allow_open_cidrs = true on purpose."
    }
    precondition {
      condition     = var.allow_beyond_free_tier || length(local.over_free_tier) == 0
      error_message = "Refusing sizes beyond the OCI Always Free tier (${join("; ", local.over_free_tier)}): they are billed. Shrink them, or set allow_beyond_free_tier = true on purpose."
    }
    precondition {
      condition     = local.subnet_inside_vcn
      error_message = "subnet_cidr \"${var.subnet_cidr}\" must lie inside vcn_cidr \"${var.vcn_cidr}\"."
    }
  }
}
