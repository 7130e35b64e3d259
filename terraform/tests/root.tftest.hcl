# Root-module tests against a mocked OCI provider (plan only, no credentials). They need
# the oracle/oci provider installed, because a mock takes its schema from the real one;
# `infra:check` runs them when it is, and says why not when it is not. The guards
# themselves are tested provider-free in modules/topology/tests.

mock_provider "oci" {
  mock_data "oci_identity_availability_domains" {
    defaults = {
      availability_domains = [{ name = "Uocm:EU-FRANKFURT-1-AD-1", id = "ad1", compartment_id = "c" }]
    }
  }
  mock_data "oci_core_images" {
    defaults = {
      images = [{ id = "ocid1.image.oc1..mockubuntu" }]
    }
  }
}

variables {
  tenancy_ocid        = "ocid1.tenancy.oc1..aaaamock"
  region              = "eu-frankfurt-1"
  ssh_public_key_path = "tests/fixtures/test_node_key.pub"
  ssh_allowed_cidrs   = ["203.0.113.7/32"]
  api_allowed_cidrs   = ["203.0.113.7/32"]
}

run "design_plan" {
  command = plan

  assert {
    condition     = oci_core_vcn.main.cidr_blocks[0] == "10.0.0.0/16"
    error_message = "The VCN must be 10.0.0.0/16."
  }
  assert {
    condition     = oci_core_subnet.public.cidr_block == "10.0.1.0/24"
    error_message = "The subnet must be 10.0.1.0/24."
  }
  assert {
    condition     = length(oci_core_instance.node) == 3
    error_message = "There must be a master and two workers."
  }
  assert {
    condition     = oci_core_instance.node["master"].shape_config[0].ocpus == 2 && oci_core_instance.node["master"].shape_config[0].memory_in_gbs == 12
    error_message = "The master must be 2 OCPU / 12 GB."
  }
  assert {
    condition     = alltrue([for k, n in oci_core_instance.node : n.shape == "VM.Standard.A1.Flex"])
    error_message = "Every node must be Ampere A1."
  }
  assert {
    condition     = length(oci_load_balancer_load_balancer.front) == 0
    error_message = "The load balancer is off by default."
  }
  assert {
    condition     = length([for r in oci_core_security_list.nodes.ingress_security_rules : r if r.source == "0.0.0.0/0" && r.protocol == "6"]) == 0
    error_message = "No TCP port may be open to the internet by default."
  }
}

run "load_balancer_at_10_mbps" {
  command = plan
  variables {
    enable_load_balancer = true
  }
  assert {
    condition     = oci_load_balancer_load_balancer.front[0].shape_details[0].maximum_bandwidth_in_mbps == 10
    error_message = "The load balancer must be capped at 10 Mbps."
  }
  assert {
    condition     = length(oci_load_balancer_backend.workers) == 2
    error_message = "Both workers must be load balancer backends."
  }
}
