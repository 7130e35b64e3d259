/**
 * The OCI target's infrastructure: Terraform for the free-tier topology, Ansible for the
 * kubeadm cluster, and the checks that run without a cloud account. In outline (not run as a
 * doc test: it needs an OCI account):
 *
 * ```ts ignore
 * const infra = await infraUp({ varFile: "terraform/meshbench.tfvars", log });
 * const cluster = await clusterSetup({ mesh: "cilium", log });
 * // ... run the cluster target with cluster.kubeconfig / cluster.context ...
 * await infraDown({ log });
 * ```
 *
 * @module
 */
export { infraDown, InfraError, infraUp, stateResources, TerraformProgress } from "./terraform.ts";
export type {
  InfraDownOptions,
  InfraDownResult,
  InfraOptions,
  InfraOutputs,
  InfraUpOptions,
} from "./terraform.ts";
export { clusterSetup, clusterVersions, cniForMesh, parseRecap, runPlaybook } from "./ansible.ts";
export type {
  ClusterSetupOptions,
  ClusterSetupResult,
  ClusterVersions,
  Cni,
  RecapLine,
} from "./ansible.ts";
export { CHECK_NAMES, checkInfra } from "./check.ts";
export type { CheckOptions, CheckResult } from "./check.ts";
export { controlPlane, parseClusterOutput, renderInventory } from "./inventory.ts";
export type { ClusterNode, ClusterOutput, InventoryOptions } from "./inventory.ts";
export { namedKubeconfig } from "./kubeconfig.ts";
export { parseInfraRecord, readInfraRecord, recordPath } from "./state.ts";
export type { InfraPhase, InfraRecord } from "./state.ts";
export { DEFAULT_STATE_DIR } from "./tools.ts";
export { withOciCluster } from "./lifecycle.ts";
export type { OciCluster, OciClusterOptions } from "./lifecycle.ts";
export { staticRootProblems } from "./static_check.ts";
