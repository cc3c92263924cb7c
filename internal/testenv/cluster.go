package testenv

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// ClusterOptions configure StartCluster.
type ClusterOptions struct {
	Nodes int      // how many nodes (deploy/haproxy.cfg names three); 3 when 0
	Env   []string // more environment for every node (BLUEPRINTS_JOB_LEASE=5s…)
	Args  []string // more serve flags for every node
}

// Cluster is Blueprints as several nodes, as deploy/ describes it: a
// PostgreSQL database, versitygw for S3, one repositories folder every node
// shares, the nodes (each with its own data folder and name), and HAProxy
// in front with the configuration in deploy/haproxy.cfg. Everything is
// stopped at the test's cleanup.
type Cluster struct {
	PG    *Postgres
	DB    string // the database's URL
	S3    *S3
	Repos string // the shared repositories folder
	Nodes []*Server
	Proxy *HAProxy
	URL   string // the balancer's address: what clients use

	opt ClusterOptions
	t   T
}

// DrainTime is the --drain of a test cluster's nodes: over HAProxy's
// check interval (1 s) times its fall count (2), with room for a busy
// machine.
const DrainTime = "4s"

// StartCluster starts a cluster and waits until HAProxy sees every node
// up.
func StartCluster(t T, opt ClusterOptions) *Cluster {
	t.Helper()
	if opt.Nodes <= 0 {
		opt.Nodes = 3
	}
	c := &Cluster{opt: opt, t: t}
	c.PG = StartPostgres(t)
	c.DB = c.PG.CreateDatabase(t)
	c.S3 = StartS3(t)
	c.Repos = filepath.Join(t.TempDir(), "repos")
	if err := os.MkdirAll(c.Repos, 0o755); err != nil {
		t.Fatalf("create shared repositories folder: %v", err)
	}
	var addrs []string
	for i := range opt.Nodes {
		n := c.StartNode(t, fmt.Sprintf("node%d", i+1), false)
		c.Nodes = append(c.Nodes, n)
		addrs = append(addrs, n.Addr)
	}
	c.Proxy = StartHAProxy(t, filepath.Join(ModuleRoot(t), "deploy", "haproxy.cfg"), addrs)
	c.URL = c.Proxy.URL
	c.WaitUp(t)
	return c
}

// NodeOptions are the options of a node called name: its own data folder,
// the shared database, repositories and bucket.
func (c *Cluster) NodeOptions(name string) Options {
	env := append(c.S3.Env(),
		"BLUEPRINTS_DB="+c.DB,
		"BLUEPRINTS_REPOS="+c.Repos,
		"BLUEPRINTS_STORAGE=s3://"+c.S3.Bucket,
		"BLUEPRINTS_NODE="+name,
		"BLUEPRINTS_DRAIN="+DrainTime,
		"BLUEPRINTS_TRUSTED_PROXIES=127.0.0.1/32",
	)
	return Options{
		Storage: "s3://" + c.S3.Bucket,
		Repos:   c.Repos,
		Env:     append(env, c.opt.Env...),
		Args:    c.opt.Args,
	}
}

// StartNode starts a node called name (a new one joining, say), waiting
// until it is healthy unless noWait.
func (c *Cluster) StartNode(t T, name string, noWait bool) *Server {
	t.Helper()
	opt := c.NodeOptions(name)
	opt.NoWait = noWait
	return StartServer(t, opt)
}

// WaitUp waits until HAProxy's health checks see every node up.
func (c *Cluster) WaitUp(t T) {
	t.Helper()
	var names []string
	for i := range c.Nodes {
		names = append(names, fmt.Sprintf("node%d", i+1))
	}
	c.Proxy.WaitServers(t, "UP", names...)
}

// Remote is the git remote of owner/project through the balancer.
func (c *Cluster) Remote(user, token, owner, project string) string {
	return strings.Replace(c.Nodes[0].Remote(user, token, owner, project), c.Nodes[0].Addr, c.Proxy.Addr, 1)
}

// Logs returns every node's log, for failure reports.
func (c *Cluster) Logs() string {
	var b strings.Builder
	for i, n := range c.Nodes {
		fmt.Fprintf(&b, "=== node%d (%s)\n%s\n", i+1, n.URL, tail(n.Log(), 60))
	}
	fmt.Fprintf(&b, "=== haproxy\n%s\n", tail(c.Proxy.Log(), 40))
	return b.String()
}
