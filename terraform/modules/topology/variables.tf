# Inputs of the provider-free topology module. Every guard that keeps a run inside the
# OCI Always Free tier, or keeps SSH and the Kubernetes API off the open internet, lives
# here, so `terraform test` can prove the guards without an OCI account or provider.

variable "vcn_cidr" {
  description = "CIDR of the VCN; all traffic inside it is allowed between nodes."
  type        = string
  default     = "10.0.0.0/16"

  validation {
    condition     = can(cidrhost(var.vcn_cidr, 0))
    error_message = "vcn_cidr must be an IPv4 CIDR such as \"10.0.0.0/16\"."
  }
}

variable "subnet_cidr" {
  description = "CIDR of the public subnet the nodes live in; must sit inside vcn_cidr."
  type        = string
  default     = "10.0.1.0/24"

  validation {
    condition     = can(cidrhost(var.subnet_cidr, 0))
    error_message = "subnet_cidr must be an IPv4 CIDR such as \"10.0.1.0/24\"."
  }
}

variable "ssh_allowed_cidrs" {
  description = "Operator CIDRs allowed to reach SSH (22). An open CIDR needs allow_open_cidrs."
  type        = list(string)

  validation {
    condition     = length(var.ssh_allowed_cidrs) > 0
    error_message = "ssh_allowed_cidrs must name at least one operator CIDR, e.g. [\"203.0.113.7/32\"]."
  }
  validation {
    condition     = alltrue([for c in var.ssh_allowed_cidrs : can(cidrhost(c, 0))])
    error_message = "ssh_allowed_cidrs must hold IPv4 CIDRs such as \"203.0.113.7/32\"."
  }
}

variable "api_allowed_cidrs" {
  description = "Operator CIDRs allowed to reach the Kubernetes API (6443). Open needs allow_open_cidrs."
  type        = list(string)

  validation {
    condition     = length(var.api_allowed_cidrs) > 0
    error_message = "api_allowed_cidrs must name at least one operator CIDR, e.g. [\"203.0.113.7/32\"]."
  }
  validation {
    condition     = alltrue([for c in var.api_allowed_cidrs : can(cidrhost(c, 0))])
    error_message = "api_allowed_cidrs must hold IPv4 CIDRs such as \"203.0.113.7/32\"."
  }
}

variable "nodeport_allowed_cidrs" {
  description = "CIDRs allowed to reach NodePorts 30000-32767; empty (the default) keeps them closed."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for c in var.nodeport_allowed_cidrs : can(cidrhost(c, 0))])
    error_message = "nodeport_allowed_cidrs must hold IPv4 CIDRs such as \"203.0.113.7/32\"."
  }
}

variable "load_balancer_allowed_cidrs" {
  description = "CIDRs allowed to reach the optional load balancer's listener."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for c in var.load_balancer_allowed_cidrs : can(cidrhost(c, 0))])
    error_message = "load_balancer_allowed_cidrs must hold IPv4 CIDRs such as \"203.0.113.7/32\"."
  }
}

variable "allow_open_cidrs" {
  description = "Explicit opt-in to a prefix of /0 (the whole internet) in any allowed-CIDR list."
  type        = bool
  default     = false
}

variable "master_ocpus" {
  description = "OCPUs of the control-plane node (Ampere A1)."
  type        = number
  default     = 2

  validation {
    condition     = var.master_ocpus >= 2 && floor(var.master_ocpus) == var.master_ocpus
    error_message = "master_ocpus must be a whole number of at least 2 (kubeadm init refuses a control plane with fewer than 2 CPUs)."
  }
}

variable "master_memory_gb" {
  description = "Memory of the control-plane node in GB."
  type        = number
  default     = 12

  validation {
    condition     = var.master_memory_gb >= 2
    error_message = "master_memory_gb must be at least 2 (kubeadm's control-plane minimum)."
  }
}

variable "worker_count" {
  description = "Number of worker nodes."
  type        = number
  default     = 2

  validation {
    condition     = var.worker_count >= 1 && floor(var.worker_count) == var.worker_count
    error_message = "worker_count must be a whole number of at least 1."
  }
}

variable "worker_ocpus" {
  description = "OCPUs of each worker node (Ampere A1)."
  type        = number
  default     = 1

  validation {
    condition     = var.worker_ocpus >= 1 && floor(var.worker_ocpus) == var.worker_ocpus
    error_message = "worker_ocpus must be a whole number of at least 1."
  }
}

variable "worker_memory_gb" {
  description = "Memory of each worker node in GB."
  type        = number
  default     = 6

  validation {
    condition     = var.worker_memory_gb >= 1
    error_message = "worker_memory_gb must be at least 1."
  }
}

variable "boot_volume_gb" {
  description = "Boot volume size of every node in GB (OCI's minimum is 50)."
  type        = number
  default     = 50

  validation {
    condition     = var.boot_volume_gb >= 50
    error_message = "boot_volume_gb must be at least 50, OCI's minimum boot volume."
  }
}

variable "enable_load_balancer" {
  description = "Create the optional flexible load balancer in front of the workers."
  type        = bool
  default     = false
}

variable "load_balancer_mbps" {
  description = "Bandwidth of the flexible load balancer in Mbps (the free tier allows 10)."
  type        = number
  default     = 10

  validation {
    condition     = var.load_balancer_mbps >= 10
    error_message = "load_balancer_mbps must be at least 10, the flexible shape's minimum."
  }
}

variable "load_balancer_backend_port" {
  description = "NodePort on the workers that the load balancer forwards to."
  type        = number
  default     = 30080

  validation {
    condition     = var.load_balancer_backend_port >= 30000 && var.load_balancer_backend_port <= 32767
    error_message = "load_balancer_backend_port must be a NodePort in 30000-32767."
  }
}

variable "allow_beyond_free_tier" {
  description = "Explicit opt-in to sizes beyond the Always Free totals (these are billed)."
  type        = bool
  default     = false
}

variable "free_tier" {
  description = "Always Free totals for Ampere A1 and block storage (OCI's published limits)."
  type = object({
    ocpus            = number
    memory_gb        = number
    block_storage_gb = number
    lb_mbps          = number
  })
  default = {
    ocpus            = 4
    memory_gb        = 24
    block_storage_gb = 200
    lb_mbps          = 10
  }
}
