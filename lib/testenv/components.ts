/**
 * The command lines of the test control plane's components (etcd, kube-apiserver,
 * kube-controller-manager, kube-scheduler, kwok), all on loopback at the ports picked for
 * one start; `testenv.ts` starts them in this order and waits for each.
 *
 * @module
 */

/** The loopback ports of one start, picked free. */
export interface ControlPlanePorts {
  etcdClient: number;
  etcdPeer: number;
  apiserver: number;
  kcm: number;
  scheduler: number;
  kwok: number;
  metricsServer: number;
}

/** One port for each component, from `pick` (in this order: tests inject collisions). */
export function pickPorts(pick: () => number): ControlPlanePorts {
  return {
    etcdClient: pick(),
    etcdPeer: pick(),
    apiserver: pick(),
    kcm: pick(),
    scheduler: pick(),
    kwok: pick(),
    metricsServer: pick(),
  };
}

/** etcd's arguments: data under `dir`, no fsync (a test store), 4 GB quota. */
export function etcdArgs(dir: string, ports: ControlPlanePorts): string[] {
  return [
    `--data-dir=${dir}/etcd`,
    `--listen-client-urls=http://127.0.0.1:${ports.etcdClient}`,
    `--advertise-client-urls=http://127.0.0.1:${ports.etcdClient}`,
    `--listen-peer-urls=http://127.0.0.1:${ports.etcdPeer}`,
    `--initial-advertise-peer-urls=http://127.0.0.1:${ports.etcdPeer}`,
    `--initial-cluster=default=http://127.0.0.1:${ports.etcdPeer}`,
    "--unsafe-no-fsync=true",
    "--quota-backend-bytes=4294967296",
    "--log-level=warn",
  ];
}

/**
 * kube-apiserver's arguments: certificates under `pki`, RBAC, the kubelet API (kwok's) with
 * the admin client certificate, and the aggregation layer for metrics.k8s.io.
 */
export function apiserverArgs(ports: ControlPlanePorts, pki: string): string[] {
  return [
    `--etcd-servers=http://127.0.0.1:${ports.etcdClient}`,
    "--bind-address=127.0.0.1",
    "--advertise-address=127.0.0.1",
    `--secure-port=${ports.apiserver}`,
    `--tls-cert-file=${pki}/apiserver.crt`,
    `--tls-private-key-file=${pki}/apiserver.key`,
    `--client-ca-file=${pki}/ca.crt`,
    `--service-account-key-file=${pki}/sa.pub`,
    `--service-account-signing-key-file=${pki}/sa.key`,
    "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
    "--service-cluster-ip-range=10.96.0.0/16",
    "--service-node-port-range=30000-32767",
    "--authorization-mode=Node,RBAC",
    "--allow-privileged=true",
    "--enable-priority-and-fairness=false",
    "--endpoint-reconciler-type=none",
    // exec/logs go to kwok, which serves the kubelet API for its nodes on loopback.
    `--kubelet-client-certificate=${pki}/admin.crt`,
    `--kubelet-client-key=${pki}/admin.key`,
    "--kubelet-preferred-address-types=InternalIP",
    // Aggregation layer (for metrics.k8s.io): the API server proves itself to extension
    // API servers with a client cert from its own CA and passes the user in these headers.
    `--requestheader-client-ca-file=${pki}/front-proxy-ca.crt`,
    "--requestheader-allowed-names=front-proxy-client",
    "--requestheader-username-headers=X-Remote-User",
    "--requestheader-group-headers=X-Remote-Group",
    "--requestheader-extra-headers-prefix=X-Remote-Extra-",
    `--proxy-client-cert-file=${pki}/front-proxy-client.crt`,
    `--proxy-client-key-file=${pki}/front-proxy-client.key`,
    "--v=1",
  ];
}

/** kube-controller-manager's arguments, with the components' `kubeconfig`. */
export function controllerManagerArgs(
  kubeconfig: string,
  ports: ControlPlanePorts,
  pki: string,
): string[] {
  return [
    `--kubeconfig=${kubeconfig}`,
    `--authentication-kubeconfig=${kubeconfig}`,
    `--authorization-kubeconfig=${kubeconfig}`,
    "--bind-address=127.0.0.1",
    `--secure-port=${ports.kcm}`,
    `--service-account-private-key-file=${pki}/sa.key`,
    `--root-ca-file=${pki}/ca.crt`,
    "--use-service-account-credentials=false",
    "--leader-elect=false",
    "--concurrent-deployment-syncs=10",
    "--v=1",
  ];
}

/** kube-scheduler's arguments, with the components' `kubeconfig`. */
export function schedulerArgs(kubeconfig: string, ports: ControlPlanePorts): string[] {
  return [
    `--kubeconfig=${kubeconfig}`,
    `--authentication-kubeconfig=${kubeconfig}`,
    `--authorization-kubeconfig=${kubeconfig}`,
    "--bind-address=127.0.0.1",
    `--secure-port=${ports.scheduler}`,
    "--leader-elect=false",
    "--v=1",
  ];
}

/**
 * kwok's arguments: its stages, exec and (with `metricsServer`) metrics configs, the nodes it
 * manages, and its kubelet API on loopback with the API server's serving certificate.
 */
export function kwokArgs(o: {
  kubeconfig: string;
  stages: string;
  execConfig: string;
  metricsConfig?: string;
  ports: ControlPlanePorts;
  pki: string;
}): string[] {
  const { ports, pki } = o;
  return [
    `--kubeconfig=${o.kubeconfig}`,
    `--config=${o.stages}`,
    `--config=${o.execConfig}`,
    ...(o.metricsConfig ? [`--config=${o.metricsConfig}`] : []),
    "--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake",
    `--server-address=127.0.0.1:${ports.kwok}`,
    `--node-port=${ports.kwok}`,
    `--tls-cert-file=${pki}/apiserver.crt`,
    `--tls-private-key-file=${pki}/apiserver.key`,
    "--cidr=10.244.0.1/16",
    "--node-ip=127.0.0.1",
    "--node-lease-duration-seconds=40",
  ];
}
