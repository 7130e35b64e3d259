# The design's topology on the OCI free tier: one VCN, one public subnet, an internet
# gateway, a security list from modules/topology, three Ampere A1 nodes and an optional
# 10 Mbps flexible load balancer.

provider "oci" {
  tenancy_ocid        = var.tenancy_ocid
  region              = var.region
  user_ocid           = var.user_ocid
  fingerprint         = var.fingerprint
  private_key_path    = var.private_key_path == null ? null : pathexpand(var.private_key_path)
  config_file_profile = var.user_ocid == null ? var.config_file_profile : null
}

module "topology" {
  source = "./modules/topology"

  vcn_cidr                    = local.vcn_cidr
  subnet_cidr                 = local.subnet_cidr
  ssh_allowed_cidrs           = var.ssh_allowed_cidrs
  api_allowed_cidrs           = var.api_allowed_cidrs
  nodeport_allowed_cidrs      = var.nodeport_allowed_cidrs
  load_balancer_allowed_cidrs = var.load_balancer_allowed_cidrs
  allow_open_cidrs            = var.allow_open_cidrs
  master_ocpus                = var.master_ocpus
  master_memory_gb            = var.master_memory_gb
  worker_count                = var.worker_count
  worker_ocpus                = var.worker_ocpus
  worker_memory_gb            = var.worker_memory_gb
  boot_volume_gb              = var.boot_volume_gb
  enable_load_balancer        = var.enable_load_balancer
  load_balancer_mbps          = var.load_balancer_mbps
  load_balancer_backend_port  = var.load_balancer_backend_port
  allow_beyond_free_tier      = var.allow_beyond_free_tier
}

locals {
  vcn_cidr       = "10.0.0.0/16"
  subnet_cidr    = "10.0.1.0/24"
  compartment_id = coalesce(var.compartment_ocid, var.tenancy_ocid)
  shape          = "VM.Standard.A1.Flex"
  ssh_user       = "ubuntu"
  nodes          = { for n in module.topology.nodes : n.name => n }
  image_id       = coalesce(var.image_ocid, try(data.oci_core_images.ubuntu.images[0].id, null))
}

data "oci_identity_availability_domains" "all" {
  compartment_id = var.tenancy_ocid
}

data "oci_core_images" "ubuntu" {
  compartment_id           = local.compartment_id
  operating_system         = "Canonical Ubuntu"
  operating_system_version = var.ubuntu_version
  shape                    = local.shape
  sort_by                  = "TIMECREATED"
  sort_order               = "DESC"
}

resource "oci_core_vcn" "main" {
  compartment_id = local.compartment_id
  cidr_blocks    = [local.vcn_cidr]
  display_name   = "${var.name_prefix}-vcn"
  dns_label      = var.name_prefix
}

resource "oci_core_internet_gateway" "main" {
  compartment_id = local.compartment_id
  vcn_id         = oci_core_vcn.main.id
  display_name   = "${var.name_prefix}-igw"
  enabled        = true
}

resource "oci_core_route_table" "public" {
  compartment_id = local.compartment_id
  vcn_id         = oci_core_vcn.main.id
  display_name   = "${var.name_prefix}-public-rt"

  route_rules {
    destination       = "0.0.0.0/0"
    destination_type  = "CIDR_BLOCK"
    network_entity_id = oci_core_internet_gateway.main.id
  }
}

resource "oci_core_security_list" "nodes" {
  compartment_id = local.compartment_id
  vcn_id         = oci_core_vcn.main.id
  display_name   = "${var.name_prefix}-nodes-sl"

  egress_security_rules {
    description = "All egress (packages, images, charts)"
    destination = "0.0.0.0/0"
    protocol    = "all"
  }

  dynamic "ingress_security_rules" {
    for_each = module.topology.ingress_rules
    content {
      description = ingress_security_rules.value.description
      source      = ingress_security_rules.value.source
      protocol    = ingress_security_rules.value.protocol

      dynamic "tcp_options" {
        for_each = ingress_security_rules.value.protocol == "6" ? [1] : []
        content {
          min = ingress_security_rules.value.port_min
          max = ingress_security_rules.value.port_max
        }
      }
    }
  }

  # Path MTU discovery ("fragmentation needed") from anywhere, as OCI's default list does.
  ingress_security_rules {
    description = "ICMP fragmentation-needed (path MTU discovery)"
    source      = "0.0.0.0/0"
    protocol    = "1"

    icmp_options {
      type = 3
      code = 4
    }
  }
}

resource "oci_core_subnet" "public" {
  compartment_id             = local.compartment_id
  vcn_id                     = oci_core_vcn.main.id
  cidr_block                 = local.subnet_cidr
  display_name               = "${var.name_prefix}-public"
  dns_label                  = "nodes"
  route_table_id             = oci_core_route_table.public.id
  security_list_ids          = [oci_core_security_list.nodes.id]
  prohibit_public_ip_on_vnic = false
}

resource "oci_core_instance" "node" {
  for_each = local.nodes

  compartment_id      = local.compartment_id
  availability_domain = data.oci_identity_availability_domains.all.availability_domains[var.availability_domain_index].name
  display_name        = "${var.name_prefix}-${each.key}"
  shape               = local.shape

  shape_config {
    ocpus         = each.value.ocpus
    memory_in_gbs = each.value.memory_gb
  }

  source_details {
    source_type             = "image"
    source_id               = local.image_id
    boot_volume_size_in_gbs = var.boot_volume_gb
  }

  create_vnic_details {
    subnet_id        = oci_core_subnet.public.id
    assign_public_ip = true
    hostname_label   = each.key
  }

  metadata = {
    ssh_authorized_keys = trimspace(file(pathexpand(var.ssh_public_key_path)))
  }

  lifecycle {
    # The image is looked up as "newest Canonical Ubuntu" on every plan: without this, a
    # new image release would replace (wipe) every node on the next infra:up. Replacing
    # nodes on purpose is infra:down + infra:up.
    ignore_changes = [source_details[0].source_id]

    precondition {
      condition     = local.image_id != null
      error_message = "No Canonical Ubuntu ${var.ubuntu_version} image for ${local.shape} was found in region \"${var.region}\": set image_ocid."
    }
  }
}

resource "oci_load_balancer_load_balancer" "front" {
  count = var.enable_load_balancer ? 1 : 0

  compartment_id = local.compartment_id
  display_name   = "${var.name_prefix}-lb"
  shape          = "flexible"
  subnet_ids     = [oci_core_subnet.public.id]
  is_private     = false

  shape_details {
    minimum_bandwidth_in_mbps = var.load_balancer_mbps
    maximum_bandwidth_in_mbps = var.load_balancer_mbps
  }
}

resource "oci_load_balancer_backend_set" "workers" {
  count = var.enable_load_balancer ? 1 : 0

  load_balancer_id = oci_load_balancer_load_balancer.front[0].id
  name             = "workers"
  policy           = "ROUND_ROBIN"

  health_checker {
    protocol = "TCP"
    port     = var.load_balancer_backend_port
  }
}

resource "oci_load_balancer_backend" "workers" {
  for_each = var.enable_load_balancer ? { for k, n in local.nodes : k => n if n.role == "worker" } : {}

  load_balancer_id = oci_load_balancer_load_balancer.front[0].id
  backendset_name  = oci_load_balancer_backend_set.workers[0].name
  ip_address       = oci_core_instance.node[each.key].private_ip
  port             = var.load_balancer_backend_port
}

resource "oci_load_balancer_listener" "http" {
  count = var.enable_load_balancer ? 1 : 0

  load_balancer_id         = oci_load_balancer_load_balancer.front[0].id
  name                     = "http"
  default_backend_set_name = oci_load_balancer_backend_set.workers[0].name
  port                     = 80
  protocol                 = "TCP"
}
