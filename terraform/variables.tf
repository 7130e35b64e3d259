# Root variables. Fill them in a copy of meshbench.tfvars.example (never commit the copy).
# Sizing and CIDR guards are enforced by modules/topology.

variable "tenancy_ocid" {
  description = "OCID of your tenancy (also used to list availability domains)."
  type        = string

  validation {
    condition     = startswith(var.tenancy_ocid, "ocid1.tenancy.")
    error_message = "tenancy_ocid must start with \"ocid1.tenancy.\"."
  }
}

variable "compartment_ocid" {
  description = "Compartment for every resource; null means the tenancy's root compartment."
  type        = string
  default     = null

  validation {
    condition     = var.compartment_ocid == null || can(regex("^ocid1\\.(compartment|tenancy)\\.", var.compartment_ocid))
    error_message = "compartment_ocid must start with \"ocid1.compartment.\" or \"ocid1.tenancy.\"."
  }
}

variable "region" {
  description = "OCI region identifier, e.g. \"eu-frankfurt-1\" (your home region for Always Free A1)."
  type        = string

  validation {
    condition     = can(regex("^[a-z]+-[a-z]+-[0-9]+$", var.region))
    error_message = "region must look like \"eu-frankfurt-1\"."
  }
}

variable "config_file_profile" {
  description = "Profile in ~/.oci/config holding the API key; used when user_ocid is null."
  type        = string
  default     = "DEFAULT"
}

variable "user_ocid" {
  description = "API-key auth without ~/.oci/config: the user's OCID (with fingerprint and private_key_path)."
  type        = string
  default     = null
}

variable "fingerprint" {
  description = "API-key fingerprint (only with user_ocid)."
  type        = string
  default     = null
}

variable "private_key_path" {
  description = "Path to the API private key PEM (only with user_ocid)."
  type        = string
  default     = null
}

variable "ssh_public_key_path" {
  description = "Public key installed for the node user; its private half is what Ansible uses."
  type        = string

  validation {
    condition     = fileexists(pathexpand(var.ssh_public_key_path))
    error_message = "ssh_public_key_path must name an existing public key file."
  }
}

variable "name_prefix" {
  description = "Prefix of every resource's display name."
  type        = string
  default     = "meshbench"

  validation {
    condition     = can(regex("^[a-z][a-z0-9]{0,14}$", var.name_prefix))
    error_message = "name_prefix must be 1-15 lowercase letters or digits, starting with a letter (it becomes a DNS label)."
  }
}

variable "image_ocid" {
  description = "Boot image; null picks the newest Canonical Ubuntu image of ubuntu_version for the A1 shape."
  type        = string
  default     = null
}

variable "ubuntu_version" {
  description = "Ubuntu release used when image_ocid is null."
  type        = string
  default     = "22.04"

  validation {
    condition     = contains(["22.04", "24.04"], var.ubuntu_version)
    error_message = "ubuntu_version must be \"22.04\" or \"24.04\" (the releases the Ansible roles support)."
  }
}

variable "availability_domain_index" {
  description = "Which availability domain (0-based) to place the nodes in; A1 capacity differs per AD."
  type        = number
  default     = 0
}

# Passed through to modules/topology, which validates them.
variable "ssh_allowed_cidrs" {
  description = "Operator CIDRs allowed to SSH (22), e.g. [\"203.0.113.7/32\"]."
  type        = list(string)
}

variable "api_allowed_cidrs" {
  description = "Operator CIDRs allowed to reach the Kubernetes API (6443)."
  type        = list(string)
}

variable "nodeport_allowed_cidrs" {
  description = "CIDRs allowed to reach NodePorts 30000-32767; empty keeps them closed."
  type        = list(string)
  default     = []
}

variable "load_balancer_allowed_cidrs" {
  description = "CIDRs allowed to reach the load balancer listener (port 80)."
  type        = list(string)
  default     = []
}

variable "allow_open_cidrs" {
  description = "Explicit opt-in to an open CIDR (any prefix shorter than /8, 0.0.0.0/0 included) in an allowed-CIDR list."
  type        = bool
  default     = false
}

variable "master_ocpus" {
  description = "Control-plane OCPUs."
  type        = number
  default     = 2
}

variable "master_memory_gb" {
  description = "Control-plane memory (GB)."
  type        = number
  default     = 12
}

variable "worker_count" {
  description = "Number of workers."
  type        = number
  default     = 2
}

variable "worker_ocpus" {
  description = "OCPUs per worker."
  type        = number
  default     = 1
}

variable "worker_memory_gb" {
  description = "Memory per worker (GB)."
  type        = number
  default     = 6
}

variable "boot_volume_gb" {
  description = "Boot volume per node (GB)."
  type        = number
  default     = 50
}

variable "enable_load_balancer" {
  description = "Create the flexible load balancer in front of the workers."
  type        = bool
  default     = false
}

variable "load_balancer_mbps" {
  description = "Load balancer bandwidth (Mbps)."
  type        = number
  default     = 10
}

variable "load_balancer_backend_port" {
  description = "Worker NodePort the load balancer forwards to."
  type        = number
  default     = 30080
}

variable "allow_beyond_free_tier" {
  description = "Explicit opt-in to billed sizes beyond the Always Free totals."
  type        = bool
  default     = false
}
