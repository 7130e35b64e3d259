# Test fixture for infraUp/infraDown: Terraform's built-in terraform_data stands in for
# cloud resources (no provider, no network) and the output has the root module's shape.
# Public addresses are loopback ones with no SSH server, so a cluster setup against them
# fails fast without sending traffic anywhere else.

terraform {
  backend "local" {}
}

variable "worker_count" {
  type    = number
  default = 2

  validation {
    condition     = var.worker_count >= 1
    error_message = "worker_count must be at least 1."
  }
}

variable "fail_on_apply" {
  description = "Make one resource fail after the others are created (a half-built apply)."
  type        = bool
  default     = false
}

resource "terraform_data" "node" {
  for_each = toset(concat(["master"], [for i in range(var.worker_count) : "worker-${i + 1}"]))
  input    = each.key
}

resource "terraform_data" "breaks" {
  count      = var.fail_on_apply ? 1 : 0
  depends_on = [terraform_data.node]

  provisioner "local-exec" {
    command = "echo 'Error: simulated capacity error' >&2; exit 1"
  }
}

output "cluster" {
  value = {
    region       = "test-region-1"
    ssh_user     = "ubuntu"
    architecture = "arm64"
    shape        = "VM.Standard.A1.Flex"
    vcn_cidr     = "10.0.0.0/16"
    subnet_cidr  = "10.0.1.0/24"
    nodes = [
      for i, name in sort(keys(terraform_data.node)) : {
        name       = name
        role       = name == "master" ? "control-plane" : "worker"
        ocpus      = name == "master" ? 2 : 1
        memory_gb  = name == "master" ? 12 : 6
        public_ip  = "127.0.0.${201 + i}"
        private_ip = "10.0.1.${10 + i}"
      }
    ]
    load_balancer_ip = null
  }
}
