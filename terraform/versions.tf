terraform {
  # Terraform >= 1.7 or OpenTofu >= 1.7 (mock providers and `terraform test`).
  required_version = ">= 1.7.0"

  required_providers {
    oci = {
      source  = "oracle/oci"
      version = "= 7.31.0"
    }
  }

  # State lives outside git: `infra:up` passes -backend-config=path=<state dir>/terraform.tfstate.
  backend "local" {}
}
