# Policy tests: the guards refuse what they must and accept the design's topology.
# Plan only, no provider: `terraform test` (or `tofu test`) runs them offline.

variables {
  ssh_allowed_cidrs = ["203.0.113.7/32"]
  api_allowed_cidrs = ["203.0.113.7/32"]
}

run "design_topology_is_accepted" {
  command = plan

  assert {
    condition     = output.totals.ocpus == 4 && output.totals.memory_gb == 24
    error_message = "The design's nodes must add up to 4 OCPU and 24 GB."
  }
  assert {
    condition     = output.totals.block_storage_gb == 150
    error_message = "Three 50 GB boot volumes must add up to 150 GB."
  }
  assert {
    condition     = [for n in output.nodes : "${n.name}:${n.ocpus}:${n.memory_gb}"] == ["master:2:12", "worker-1:1:6", "worker-2:1:6"]
    error_message = "Nodes must be master 2/12 and two workers 1/6."
  }
  assert {
    condition     = length([for r in output.ingress_rules : r if r.port_min == 30000]) == 0
    error_message = "NodePorts must be closed by default."
  }
  assert {
    condition     = length([for r in output.ingress_rules : r if r.source == "0.0.0.0/0"]) == 0
    error_message = "No ingress rule may be open to the internet by default."
  }
  assert {
    condition     = length([for r in output.ingress_rules : r if r.port_min == 22 && r.source == "203.0.113.7/32"]) == 1
    error_message = "SSH must be open to the operator CIDR only."
  }
  assert {
    condition     = length([for r in output.ingress_rules : r if r.port_min == 6443 && r.source == "203.0.113.7/32"]) == 1
    error_message = "The Kubernetes API must be open to the operator CIDR only."
  }
  assert {
    condition     = length([for r in output.ingress_rules : r if r.protocol == "all" && r.source == "10.0.0.0/16"]) == 1
    error_message = "All traffic inside 10.0.0.0/16 must be allowed."
  }
}

run "open_ssh_cidr_is_refused" {
  command = plan
  variables {
    ssh_allowed_cidrs = ["0.0.0.0/0"]
  }
  expect_failures = [terraform_data.guards]
}

run "open_api_cidr_is_refused" {
  command = plan
  variables {
    api_allowed_cidrs = ["203.0.113.7/32", "0.0.0.0/0"]
  }
  expect_failures = [terraform_data.guards]
}

run "open_nodeport_cidr_is_refused" {
  command = plan
  variables {
    nodeport_allowed_cidrs = ["0.0.0.0/0"]
  }
  expect_failures = [terraform_data.guards]
}

run "open_cidr_with_explicit_opt_in_is_accepted" {
  command = plan
  variables {
    ssh_allowed_cidrs = ["0.0.0.0/0"]
    allow_open_cidrs  = true
  }
  assert {
    condition     = output.open_cidrs_found == ["ssh_allowed_cidrs=\"0.0.0.0/0\""]
    error_message = "The open CIDR must still be reported."
  }
}

run "nodeports_open_when_configured" {
  command = plan
  variables {
    nodeport_allowed_cidrs = ["198.51.100.0/24"]
  }
  assert {
    condition     = length([for r in output.ingress_rules : r if r.port_min == 30000 && r.port_max == 32767 && r.source == "198.51.100.0/24"]) == 1
    error_message = "A configured NodePort CIDR must open 30000-32767 to it."
  }
}

run "empty_ssh_cidrs_are_refused" {
  command = plan
  variables {
    ssh_allowed_cidrs = []
  }
  expect_failures = [var.ssh_allowed_cidrs]
}

run "malformed_api_cidr_is_refused" {
  command = plan
  variables {
    api_allowed_cidrs = ["my-laptop"]
  }
  expect_failures = [var.api_allowed_cidrs]
}

run "too_many_ocpus_are_refused" {
  command = plan
  variables {
    master_ocpus = 3
  }
  expect_failures = [terraform_data.guards]
}

run "too_much_memory_is_refused" {
  command = plan
  variables {
    worker_memory_gb = 8
  }
  expect_failures = [terraform_data.guards]
}

run "a_third_worker_is_refused" {
  command = plan
  variables {
    worker_count = 3
  }
  expect_failures = [terraform_data.guards]
}

run "exact_free_tier_totals_are_accepted" {
  command = plan
  variables {
    boot_volume_gb = 66
  }
  # master 2 OCPU/12 GB + two workers 1 OCPU/6 GB is exactly 4 OCPU and 24 GB; three 66 GB
  # boot volumes are 198 of 200 GB. (Four nodes can no longer reach 200 GB exactly: a
  # kubeadm control plane needs 2 of the 4 OCPU.)
  assert {
    condition     = output.totals == { ocpus = 4, memory_gb = 24, block_storage_gb = 198, lb_mbps = 0 }
    error_message = "Totals at the free-tier limits must be accepted."
  }
}

run "too_much_block_storage_is_refused" {
  command = plan
  variables {
    boot_volume_gb = 70
  }
  expect_failures = [terraform_data.guards]
}

run "faster_load_balancer_is_refused" {
  command = plan
  variables {
    enable_load_balancer = true
    load_balancer_mbps   = 100
  }
  expect_failures = [terraform_data.guards]
}

run "beyond_free_tier_with_explicit_opt_in_is_accepted" {
  command = plan
  variables {
    master_ocpus           = 4
    allow_beyond_free_tier = true
  }
  assert {
    condition     = output.totals.ocpus == 6
    error_message = "The totals must be reported as asked."
  }
}

run "subnet_outside_vcn_is_refused" {
  command = plan
  variables {
    subnet_cidr = "10.1.1.0/24"
  }
  expect_failures = [terraform_data.guards]
}

run "boot_volume_below_oci_minimum_is_refused" {
  command = plan
  variables {
    boot_volume_gb = 40
  }
  expect_failures = [var.boot_volume_gb]
}

run "two_half_internet_cidrs_are_refused" {
  # 0.0.0.0/1 + 128.0.0.0/1 admit every address without naming /0.
  command = plan
  variables {
    ssh_allowed_cidrs = ["0.0.0.0/1", "128.0.0.0/1"]
  }
  expect_failures = [terraform_data.guards]
}

run "a_slash_seven_is_refused_as_open" {
  command = plan
  variables {
    api_allowed_cidrs = ["203.0.113.7/32", "64.0.0.0/7"]
  }
  expect_failures = [terraform_data.guards]
}

run "an_operator_slash_sixteen_is_accepted" {
  command = plan
  variables {
    ssh_allowed_cidrs = ["198.51.0.0/16"]
  }
  assert {
    condition     = length(output.open_cidrs_found) == 0
    error_message = "A /16 operator range must not count as open."
  }
}

run "a_one_ocpu_master_is_refused" {
  # kubeadm init's preflight refuses a control plane with fewer than 2 CPUs.
  command = plan
  variables {
    master_ocpus = 1
  }
  expect_failures = [var.master_ocpus]
}
