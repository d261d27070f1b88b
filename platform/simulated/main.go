// Command simulated runs a real Kubernetes control plane in one process, on loopback only:
// etcd (embedded), kube-apiserver, kube-controller-manager and kube-scheduler, all from the
// upstream modules pinned in go.mod. Nodes and pod status come from KWOK, a separate
// process that mlstack starts against the kubeconfig this program writes.
//
// Why one process: the three Kubernetes commands share almost all their code, so one
// binary compiles it once (as k3s does); etcd embeds the same way. Why our own module: the
// Kubernetes module replaces its staging modules with local directories, so it can only
// be consumed by a module that pins each of them (go.mod).
//
// State (certificates, kubeconfigs, etcd data) lives under --data-dir and is reused by a
// restart; SIGTERM/SIGINT stop every component and exit.
package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/spf13/pflag"
	"go.etcd.io/etcd/server/v3/embed"
	logsapi "k8s.io/component-base/logs/api/v1"
	apiserver "k8s.io/kubernetes/cmd/kube-apiserver/app"
	controllermanager "k8s.io/kubernetes/cmd/kube-controller-manager/app"
	scheduler "k8s.io/kubernetes/cmd/kube-scheduler/app"
	scheduleroptions "k8s.io/kubernetes/cmd/kube-scheduler/app/options"
)

type settings struct {
	dataDir      string
	clusterName  string
	context      string
	etcdPort     int
	etcdPeerPort int
	apiPort      int
	serviceCIDR  string
	serviceIP    string
	disabled     string
	readyTimeout time.Duration
}

func main() {
	var s settings
	flag.StringVar(&s.dataDir, "data-dir", "", "state directory (certificates, kubeconfigs, etcd data)")
	flag.StringVar(&s.clusterName, "cluster-name", "mlstack", "cluster name (kubeconfig cluster and user)")
	flag.StringVar(&s.context, "context", "sim-mlstack", "kube context name written to <data-dir>/admin.kubeconfig")
	flag.IntVar(&s.etcdPort, "etcd-port", 0, "etcd client port on 127.0.0.1")
	flag.IntVar(&s.etcdPeerPort, "etcd-peer-port", 0, "etcd peer port on 127.0.0.1")
	flag.IntVar(&s.apiPort, "apiserver-port", 0, "kube-apiserver secure port on 127.0.0.1")
	flag.StringVar(&s.serviceCIDR, "service-cluster-ip-range", "10.96.0.0/16", "Service ClusterIP range")
	flag.StringVar(&s.serviceIP, "kubernetes-service-ip", "10.96.0.1", "ClusterIP of the kubernetes Service (first of the range)")
	flag.StringVar(&s.disabled, "disable-admission-plugins", "MutatingAdmissionWebhook,ValidatingAdmissionWebhook",
		"admission plugins turned off (webhooks: no pod runs to serve them)")
	flag.DurationVar(&s.readyTimeout, "ready-timeout", 2*time.Minute, "how long to wait for a component to become ready")
	flag.Parse()
	if s.dataDir == "" || s.etcdPort == 0 || s.etcdPeerPort == 0 || s.apiPort == 0 {
		fmt.Fprintln(os.Stderr, "simulated: --data-dir, --etcd-port, --etcd-peer-port and --apiserver-port are required")
		os.Exit(2)
	}
	if err := run(s); err != nil {
		fmt.Fprintf(os.Stderr, "simulated: %v\n", err)
		os.Exit(1)
	}
}

func run(s settings) error {
	// Three commands in one process each apply the same logging options; the default
	// refuses a second application even when nothing changes.
	logsapi.ReapplyHandling = logsapi.ReapplyHandlingIgnoreUnchanged

	pki := filepath.Join(s.dataDir, "pki")
	if err := ensurePKI(pki, s); err != nil {
		return fmt.Errorf("certificates: %w", err)
	}
	server := fmt.Sprintf("https://127.0.0.1:%d", s.apiPort)
	users := map[string]string{ // kubeconfig file -> client certificate
		"admin.kubeconfig":              "admin",
		"controller-manager.kubeconfig": "controller-manager",
		"scheduler.kubeconfig":          "scheduler",
		"kwok.kubeconfig":               "kwok",
	}
	for file, cert := range users {
		if err := writeKubeconfig(filepath.Join(s.dataDir, file), s, server, pki, cert); err != nil {
			return err
		}
	}

	etcd, err := startEtcd(s)
	if err != nil {
		return fmt.Errorf("etcd: %w", err)
	}
	defer stopEtcd(etcd)

	failed := make(chan error, 3)
	api := apiserver.NewAPIServerCommand() // owns SIGTERM/SIGINT: it shuts down gracefully
	api.SetArgs(apiserverArgs(s, pki))
	apiDone := make(chan struct{})
	go func() {
		defer close(apiDone)
		if err := api.Execute(); err != nil {
			failed <- fmt.Errorf("kube-apiserver: %w", err)
		}
	}()

	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	if err := waitReady(server+"/readyz", pki, s.readyTimeout, failed, stop); err != nil {
		return err
	}

	kcm := controllermanager.NewControllerManagerCommand()
	kcm.SetArgs(controllerManagerArgs(s, pki))
	go func() {
		if err := kcm.Execute(); err != nil {
			failed <- fmt.Errorf("kube-controller-manager: %w", err)
		}
	}()
	go func() {
		if err := runScheduler(s); err != nil {
			failed <- fmt.Errorf("kube-scheduler: %w", err)
		}
	}()
	fmt.Fprintf(os.Stderr, "simulated: control plane serving on %s\n", server)

	select {
	case err := <-failed:
		return err
	case <-stop:
		// The apiserver saw the same signal and stops listening at once; its Run returns
		// only after its in-process clients let go, so wait a little, then stop etcd.
		select {
		case <-apiDone:
		case <-time.After(3 * time.Second):
		}
		return nil
	}
}

// runScheduler is the scheduler command's body without its signal handler: the process
// may install only one, and the apiserver's already is (a second one panics).
func runScheduler(s settings) error {
	opts := scheduleroptions.NewOptions()
	fs := pflag.NewFlagSet("kube-scheduler", pflag.ContinueOnError)
	for _, set := range opts.Flags.FlagSets {
		fs.AddFlagSet(set)
	}
	if err := fs.Parse([]string{
		"--kubeconfig=" + filepath.Join(s.dataDir, "scheduler.kubeconfig"),
		"--leader-elect=false",
		"--secure-port=0",
	}); err != nil {
		return err
	}
	if err := opts.ComponentGlobalsRegistry.Set(); err != nil {
		return err
	}
	ctx := context.Background()
	cc, sched, err := scheduler.Setup(ctx, opts)
	if err != nil {
		return err
	}
	return scheduler.Run(ctx, cc, sched)
}

func apiserverArgs(s settings, pki string) []string {
	p := func(name string) string { return filepath.Join(pki, name) }
	return []string{
		"--bind-address=127.0.0.1",
		"--advertise-address=127.0.0.1",
		"--secure-port=" + strconv.Itoa(s.apiPort),
		"--etcd-servers=" + fmt.Sprintf("http://127.0.0.1:%d", s.etcdPort),
		"--tls-cert-file=" + p("apiserver.crt"),
		"--tls-private-key-file=" + p("apiserver.key"),
		"--client-ca-file=" + p("ca.crt"),
		"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file=" + p("sa.pub"),
		"--service-account-signing-key-file=" + p("sa.key"),
		"--service-cluster-ip-range=" + s.serviceCIDR,
		"--authorization-mode=Node,RBAC",
		// Every default admission plugin (PodSecurity included) stays on; only the webhook
		// callers are off, because no pod runs to serve a webhook.
		"--disable-admission-plugins=" + s.disabled,
		// As kubeadm, k3s and every managed cluster: Pod Security decides what is privileged.
		"--allow-privileged=true",
		// The endpoint reconciler publishes the advertise address, and Endpoints refuse a
		// loopback address: the kubernetes Service keeps no endpoints here.
		"--endpoint-reconciler-type=none",
		"--profiling=false",
	}
}

func controllerManagerArgs(s settings, pki string) []string {
	p := func(name string) string { return filepath.Join(pki, name) }
	return []string{
		"--kubeconfig=" + filepath.Join(s.dataDir, "controller-manager.kubeconfig"),
		"--leader-elect=false",
		"--secure-port=0",
		"--cluster-name=" + s.clusterName,
		"--controllers=*",
		"--use-service-account-credentials=true",
		"--service-account-private-key-file=" + p("sa.key"),
		"--root-ca-file=" + p("ca.crt"),
		"--cluster-signing-cert-file=" + p("ca.crt"),
		"--cluster-signing-key-file=" + p("ca.key"),
		"--profiling=false",
	}
}

// stopEtcd closes etcd, but waits at most a few seconds: its gRPC server drains the
// apiserver's watch streams for longer than a stop should take, and every write is already
// in its fsynced log.
func stopEtcd(e *embed.Etcd) {
	done := make(chan struct{})
	go func() {
		e.Close()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(3 * time.Second):
	}
}

func startEtcd(s settings) (*embed.Etcd, error) {
	cfg := embed.NewConfig()
	cfg.Name = "simulated"
	cfg.Dir = filepath.Join(s.dataDir, "etcd")
	client, _ := url.Parse(fmt.Sprintf("http://127.0.0.1:%d", s.etcdPort))
	peer, _ := url.Parse(fmt.Sprintf("http://127.0.0.1:%d", s.etcdPeerPort))
	cfg.ListenClientUrls, cfg.AdvertiseClientUrls = []url.URL{*client}, []url.URL{*client}
	cfg.ListenPeerUrls, cfg.AdvertisePeerUrls = []url.URL{*peer}, []url.URL{*peer}
	cfg.InitialCluster = cfg.InitialClusterFromName(cfg.Name)
	cfg.LogLevel = "error"
	cfg.LogOutputs = []string{filepath.Join(s.dataDir, "etcd.log")}
	e, err := embed.StartEtcd(cfg)
	if err != nil {
		return nil, err
	}
	select {
	case <-e.Server.ReadyNotify():
		return e, nil
	case err := <-e.Err():
		e.Close()
		return nil, err
	case <-time.After(s.readyTimeout):
		e.Close()
		return nil, errors.New("not ready in time")
	}
}

// waitReady polls the apiserver's /readyz with the admin certificate.
func waitReady(readyz, pki string, timeout time.Duration, failed <-chan error, stop <-chan os.Signal) error {
	cert, err := tls.LoadX509KeyPair(filepath.Join(pki, "admin.crt"), filepath.Join(pki, "admin.key"))
	if err != nil {
		return err
	}
	roots := x509.NewCertPool()
	caPEM, err := os.ReadFile(filepath.Join(pki, "ca.crt"))
	if err != nil {
		return err
	}
	roots.AppendCertsFromPEM(caPEM)
	client := &http.Client{
		Timeout:   5 * time.Second,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots, Certificates: []tls.Certificate{cert}}},
	}
	deadline := time.After(timeout)
	for {
		resp, err := client.Get(readyz)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case err := <-failed:
			return err
		case <-stop:
			return errors.New("stopped before kube-apiserver was ready")
		case <-deadline:
			return fmt.Errorf("kube-apiserver not ready after %s", timeout)
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// ensurePKI mints, once, a CA, the apiserver's serving certificate, one client certificate
// per component and the service-account signing key. ECDSA P-256 throughout: fast to make.
func ensurePKI(dir string, s settings) error {
	if _, err := os.Stat(filepath.Join(dir, "sa.pub")); err == nil {
		return nil // complete: sa.pub is written last
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	now := time.Now().Add(-time.Hour)
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: s.clusterName + "-simulated-ca"},
		NotBefore:             now,
		NotAfter:              now.AddDate(10, 0, 0),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return err
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		return err
	}
	if err := writePair(dir, "ca", caDER, caKey); err != nil {
		return err
	}
	type leaf struct {
		name, cn string
		orgs     []string
		server   bool
	}
	leaves := []leaf{
		{"apiserver", "kube-apiserver", nil, true},
		{"admin", "kubernetes-admin", []string{"system:masters"}, false},
		{"controller-manager", "system:kube-controller-manager", nil, false},
		{"scheduler", "system:kube-scheduler", nil, false},
		// KWOK plays every kubelet (node status, leases, pod status): it needs more than
		// one node's rights, so it is an administrator like kwokctl's own setup.
		{"kwok", "kwok", []string{"system:masters"}, false},
	}
	for i, l := range leaves {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return err
		}
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(int64(i + 2)),
			Subject:      pkix.Name{CommonName: l.cn, Organization: l.orgs},
			NotBefore:    now,
			NotAfter:     now.AddDate(10, 0, 0),
			KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
			ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		}
		if l.server {
			tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
			tmpl.IPAddresses = []net.IP{net.ParseIP("127.0.0.1"), net.ParseIP(s.serviceIP)}
			tmpl.DNSNames = []string{"localhost", "kubernetes", "kubernetes.default",
				"kubernetes.default.svc", "kubernetes.default.svc.cluster.local"}
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
		if err != nil {
			return err
		}
		if err := writePair(dir, l.name, der, key); err != nil {
			return err
		}
	}
	saKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	if err := writeKey(filepath.Join(dir, "sa.key"), saKey); err != nil {
		return err
	}
	pub, err := x509.MarshalPKIXPublicKey(&saKey.PublicKey)
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "sa.pub"), pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub}), 0o600)
}

func writePair(dir, name string, der []byte, key *ecdsa.PrivateKey) error {
	crt := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	if err := os.WriteFile(filepath.Join(dir, name+".crt"), crt, 0o600); err != nil {
		return err
	}
	return writeKey(filepath.Join(dir, name+".key"), key)
}

func writeKey(path string, key *ecdsa.PrivateKey) error {
	der, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return err
	}
	return os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der}), 0o600)
}

// writeKubeconfig writes a kubeconfig whose cluster and user carry the certificates inline,
// so it stays valid when merged into another file.
func writeKubeconfig(path string, s settings, server, pki, cert string) error {
	read := func(name string) (string, error) {
		b, err := os.ReadFile(filepath.Join(pki, name))
		return string(b), err
	}
	ca, err := read("ca.crt")
	if err != nil {
		return err
	}
	crt, err := read(cert + ".crt")
	if err != nil {
		return err
	}
	key, err := read(cert + ".key")
	if err != nil {
		return err
	}
	b64 := func(text string) string { return base64.StdEncoding.EncodeToString([]byte(text)) }
	user := s.context + "-" + cert
	body := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: %[1]s
  cluster:
    server: %[2]s
    certificate-authority-data: %[3]s
users:
- name: %[4]s
  user:
    client-certificate-data: %[5]s
    client-key-data: %[6]s
contexts:
- name: %[1]s
  context:
    cluster: %[1]s
    user: %[4]s
current-context: %[1]s
`, s.context, server, b64(ca), user, b64(crt), b64(key))
	return os.WriteFile(path, []byte(body), 0o600)
}
