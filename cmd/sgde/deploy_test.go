package main

import (
	"bytes"
	"errors"
	"io"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/urfave/cli/v2"
	"go.yaml.in/yaml/v3"

	"github.com/sgde-project/sgde/internal/serve"
	"github.com/sgde-project/sgde/plans"
)

const deployDir = "../../deploy"

// exampleKey is the API key whose hash the example tenants files hold.
const exampleKey = "sk-example-0123456789abcdef"

// yamlDocs decodes every document of a YAML file.
func yamlDocs(t *testing.T, path string) []map[string]any {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	var docs []map[string]any
	for {
		var d map[string]any
		err := dec.Decode(&d)
		if errors.Is(err, io.EOF) {
			return docs
		}
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if d != nil {
			docs = append(docs, d)
		}
	}
}

// at walks a decoded YAML value by map keys and list indexes ("spec.template.spec.containers.0").
func at(v any, path string) any {
	for _, k := range strings.Split(path, ".") {
		switch x := v.(type) {
		case map[string]any:
			v = x[k]
		case []any:
			i, err := strconv.Atoi(k)
			if err != nil || i < 0 || i >= len(x) {
				return nil
			}
			v = x[i]
		default:
			return nil
		}
	}
	return v
}

func str(v any, path string) string { s, _ := at(v, path).(string); return s }

func list(v any, path string) []any { l, _ := at(v, path).([]any); return l }

// commandFlags returns the flag names of the command at path ("serve", "eval merge").
func commandFlags(t *testing.T, path string) map[string]bool {
	t.Helper()
	cmds := newApp(io.Discard, io.Discard).Commands
	var cmd *cli.Command
	for _, name := range strings.Fields(path) {
		cmd = nil
		for _, c := range cmds {
			if c.Name == name {
				cmd = c
			}
		}
		if cmd == nil {
			t.Fatalf("no command %q", path)
		}
		cmds = cmd.Subcommands
	}
	out := map[string]bool{}
	for _, f := range cmd.Flags {
		for _, n := range f.Names() {
			out[n] = true
		}
	}
	return out
}

// checkArgs checks that every --flag in args is a flag of the command, and returns the flags'
// values.
func checkArgs(t *testing.T, where, command string, args []any) map[string]string {
	t.Helper()
	known := commandFlags(t, command)
	vals := map[string]string{}
	for _, a := range args {
		s, _ := a.(string)
		name, val, _ := strings.Cut(strings.TrimPrefix(s, "--"), "=")
		if !strings.HasPrefix(s, "--") {
			continue
		}
		if !known[name] {
			t.Errorf("%s: sgde %s has no flag --%s", where, command, name)
		}
		vals[name] = val
	}
	return vals
}

func subset(t *testing.T, where string, sel, labels any) {
	t.Helper()
	sm, _ := sel.(map[string]any)
	lm, _ := labels.(map[string]any)
	if len(sm) == 0 {
		t.Errorf("%s: empty selector", where)
	}
	for k, v := range sm {
		if lm[k] != v {
			t.Errorf("%s: selector %s=%v does not match the labels %v", where, k, v, lm)
		}
	}
}

// TestDeployKubernetes checks the manifests against what a cluster and sgde need: required
// fields, selectors matching labels, probes on the right paths and ports, volumes of objects
// that exist, flags sgde has, tenants and plans that load.
func TestDeployKubernetes(t *testing.T) {
	dir := filepath.Join(deployDir, "kubernetes")
	files, _ := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if len(files) == 0 {
		t.Fatal("no manifests")
	}
	byKind := map[string]map[string]map[string]any{}
	inKustomization := map[string]bool{}
	for _, f := range files {
		for _, d := range yamlDocs(t, f) {
			kind, name := str(d, "kind"), str(d, "metadata.name")
			if str(d, "apiVersion") == "" || kind == "" {
				t.Errorf("%s: a document without apiVersion or kind", f)
				continue
			}
			if kind == "Kustomization" {
				for _, r := range list(d, "resources") {
					inKustomization[r.(string)] = true
				}
				continue
			}
			if name == "" {
				t.Errorf("%s: %s without metadata.name", f, kind)
			}
			if byKind[kind] == nil {
				byKind[kind] = map[string]map[string]any{}
			}
			byKind[kind][name] = d
			if !inKustomization[filepath.Base(f)] && kind != "Job" {
				defer func(base string) {
					if !inKustomization[base] {
						t.Errorf("%s is not in kustomization.yaml", base)
					}
				}(filepath.Base(f))
			}
		}
	}
	for r := range inKustomization {
		if _, err := os.Stat(filepath.Join(dir, r)); err != nil {
			t.Errorf("kustomization.yaml: %v", err)
		}
	}

	dep := byKind["Deployment"]["sgde"]
	if dep == nil {
		t.Fatal("no Deployment sgde")
	}
	if n, _ := at(dep, "spec.replicas").(int); n < 2 {
		t.Errorf("Deployment replicas %v, want several", at(dep, "spec.replicas"))
	}
	labels := at(dep, "spec.template.metadata.labels")
	subset(t, "Deployment", at(dep, "spec.selector.matchLabels"), labels)
	c := at(dep, "spec.template.spec.containers.0")
	if str(c, "image") == "" || str(c, "args.0") != "serve" {
		t.Fatalf("container: image %q, args %v", str(c, "image"), list(c, "args"))
	}
	flags := checkArgs(t, "Deployment", "serve", list(c, "args"))
	ports := map[string]bool{}
	for _, p := range list(c, "ports") {
		ports[str(p, "name")] = true
	}
	for probe, path := range map[string]string{"readinessProbe": "/readyz", "livenessProbe": "/healthz"} {
		if got := str(c, probe+".httpGet.path"); got != path {
			t.Errorf("%s on %q, want %s", probe, got, path)
		}
		if p := str(c, probe+".httpGet.port"); !ports[p] {
			t.Errorf("%s on port %q, not a named container port", probe, p)
		}
	}
	if !strings.HasSuffix(flags["ops-addr"], ":9090") || !strings.HasSuffix(flags["addr"], ":8080") {
		t.Errorf("--addr %q / --ops-addr %q do not match the container ports", flags["addr"], flags["ops-addr"])
	}
	// Volumes: the plans ConfigMap at --plans, the tenants Secret holding --tenants.
	mounts := map[string]string{}
	for _, m := range list(c, "volumeMounts") {
		mounts[str(m, "name")] = str(m, "mountPath")
	}
	for _, v := range list(dep, "spec.template.spec.volumes") {
		name := str(v, "name")
		switch {
		case str(v, "configMap.name") != "":
			cm := byKind["ConfigMap"][str(v, "configMap.name")]
			if cm == nil {
				t.Errorf("volume %s: no ConfigMap %s", name, str(v, "configMap.name"))
				continue
			}
			if mounts[name] != flags["plans"] {
				t.Errorf("plans ConfigMap mounted at %q, --plans is %q", mounts[name], flags["plans"])
			}
			for file, src := range at(cm, "data").(map[string]any) {
				if _, err := plans.Parse([]byte(src.(string)), file); err != nil {
					t.Errorf("ConfigMap %s: %v", file, err)
				}
			}
		case str(v, "secret.secretName") != "":
			sec := byKind["Secret"][str(v, "secret.secretName")]
			if sec == nil {
				t.Errorf("volume %s: no Secret %s", name, str(v, "secret.secretName"))
				continue
			}
			file, ok := strings.CutPrefix(flags["tenants"], mounts[name]+"/")
			if !ok {
				t.Errorf("--tenants %q is not in the Secret's mount %q", flags["tenants"], mounts[name])
			}
			data, _ := at(sec, "stringData").(map[string]any)
			src, _ := data[file].(string)
			ts, err := serve.ParseTenants([]byte(src))
			if err != nil {
				t.Errorf("Secret %s: %v", file, err)
			} else if ts.Authenticate(exampleKey) == nil {
				t.Errorf("Secret %s: the documented example key is not a tenant's", file)
			}
		default:
			t.Errorf("volume %s: neither ConfigMap nor Secret", name)
		}
	}
	// The state URL: from --state or the environment, naming the Redis Service.
	state := flags["state"]
	for _, e := range list(c, "envFrom") {
		if cm := byKind["ConfigMap"][str(e, "configMapRef.name")]; cm != nil {
			if s := str(cm, "data.SGDE_STATE"); s != "" {
				state = s
			}
		} else {
			t.Errorf("envFrom: no ConfigMap %q", str(e, "configMapRef.name"))
		}
	}
	u, err := url.Parse(state)
	if err != nil || u.Scheme != "redis" || byKind["Service"][u.Hostname()] == nil {
		t.Errorf("state URL %q does not name a Redis Service", state)
	}
	if flags["cache-store"] != "redis" {
		t.Errorf("--cache-store %q: replicas do not share answers", flags["cache-store"])
	}

	svc := byKind["Service"]["sgde"]
	subset(t, "Service sgde", at(svc, "spec.selector"), labels)
	for _, p := range list(svc, "spec.ports") {
		if !ports[str(p, "targetPort")] {
			t.Errorf("Service targetPort %q is not a container port", str(p, "targetPort"))
		}
	}
	redis := byKind["StatefulSet"][u.Hostname()]
	if redis == nil {
		t.Fatalf("no Redis StatefulSet %s", u.Hostname())
	}
	subset(t, "StatefulSet", at(redis, "spec.selector.matchLabels"), at(redis, "spec.template.metadata.labels"))
	subset(t, "Service "+u.Hostname(), at(byKind["Service"][u.Hostname()], "spec.selector"), at(redis, "spec.template.metadata.labels"))

	// The Indexed Job's shards and the merge Job's inputs agree.
	job, merge := byKind["Job"]["sgde-eval"], byKind["Job"]["sgde-eval-merge"]
	if job == nil || merge == nil {
		t.Fatal("no eval Jobs")
	}
	n, _ := at(job, "spec.completions").(int)
	if str(job, "spec.completionMode") != "Indexed" || n < 2 || at(job, "spec.parallelism") != n {
		t.Errorf("eval Job: mode %q, completions %v, parallelism %v", str(job, "spec.completionMode"), at(job, "spec.completions"), at(job, "spec.parallelism"))
	}
	jc := at(job, "spec.template.spec.containers.0")
	jflags := checkArgs(t, "eval Job", "eval", list(jc, "args"))
	if str(jc, "env.0.valueFrom.fieldRef.fieldPath") != "metadata.annotations['batch.kubernetes.io/job-completion-index']" {
		t.Errorf("eval Job: the shard index does not come from the completion index: %v", at(jc, "env.0"))
	}
	envName := str(jc, "env.0.name")
	if want := "$(" + envName + ")/" + strconv.Itoa(n); jflags["shard"] != want {
		t.Errorf("eval Job: --shard=%q, want %q", jflags["shard"], want)
	}
	mc := at(merge, "spec.template.spec.containers.0")
	margs := list(mc, "args")
	if str(mc, "args.0") != "eval" || str(mc, "args.1") != "merge" {
		t.Fatalf("merge Job args %v", margs)
	}
	checkArgs(t, "merge Job", "eval merge", margs[2:])
	var inputs []string
	for _, a := range margs[2:] {
		if s := a.(string); !strings.HasPrefix(s, "--") {
			inputs = append(inputs, s)
		}
	}
	var want []string
	for k := range n {
		want = append(want, strings.ReplaceAll(jflags["results"], "$("+envName+")", strconv.Itoa(k)))
	}
	if !slices.Equal(inputs, want) {
		t.Errorf("merge Job reads %v, the shards write %v", inputs, want)
	}

	// kubectl, where installed, builds the kustomization offline.
	if kubectl, err := exec.LookPath("kubectl"); err == nil {
		out, err := exec.Command(kubectl, "kustomize", dir).CombinedOutput()
		if err != nil {
			t.Errorf("kubectl kustomize: %v\n%s", err, out)
		}
	} else {
		t.Log("kubectl not installed: kustomization not built")
	}
}

// TestDeployCompose checks the compose file and the nginx configuration: three replicas sharing
// a Redis, an upstream per replica, flags sgde has, the same plan and tenants as the manifests.
func TestDeployCompose(t *testing.T) {
	dir := filepath.Join(deployDir, "compose")
	docs := yamlDocs(t, filepath.Join(dir, "compose.yaml"))
	if len(docs) != 1 {
		t.Fatalf("%d documents", len(docs))
	}
	services, _ := at(docs[0], "services").(map[string]any)
	var replicas []string
	for name, s := range services {
		cmd := list(s, "command")
		if len(cmd) == 0 || cmd[0] != "serve" {
			continue
		}
		replicas = append(replicas, name)
		flags := checkArgs(t, name, "serve", cmd)
		u, err := url.Parse(flags["state"])
		if err != nil || u.Scheme != "redis" || services[u.Hostname()] == nil {
			t.Errorf("%s: --state %q does not name the Redis service", name, flags["state"])
		}
		if flags["cache-store"] != "redis" {
			t.Errorf("%s: --cache-store %q", name, flags["cache-store"])
		}
		if !strings.Contains(strings.Join(stringsOf(list(s, "healthcheck.test")), " "), "/readyz") {
			t.Errorf("%s: healthcheck %v does not ask /readyz", name, list(s, "healthcheck.test"))
		}
		for _, v := range list(s, "volumes") {
			src, _, _ := strings.Cut(v.(string), ":")
			if _, err := os.Stat(filepath.Join(dir, src)); err != nil {
				t.Errorf("%s: volume %v", name, err)
			}
		}
	}
	slices.Sort(replicas)
	if len(replicas) != 3 {
		t.Errorf("replicas %v, want 3", replicas)
	}
	conf, err := os.ReadFile(filepath.Join(dir, "nginx.conf"))
	if err != nil {
		t.Fatal(err)
	}
	var upstream []string
	for _, m := range regexp.MustCompile(`(?m)^\s*server\s+([a-z0-9-]+):8080\b`).FindAllStringSubmatch(string(conf), -1) {
		upstream = append(upstream, m[1])
	}
	if !slices.Equal(upstream, replicas) {
		t.Errorf("nginx upstream %v, replicas %v", upstream, replicas)
	}
	var lbPorts []string
	for name, s := range services {
		for _, p := range list(s, "ports") {
			lbPorts = append(lbPorts, name+" "+p.(string))
		}
	}
	if len(lbPorts) != 1 || !strings.HasPrefix(lbPorts[0], "lb 127.0.0.1:") {
		t.Errorf("published ports %v, want only the load balancer's, on 127.0.0.1", lbPorts)
	}
	ts, err := serve.LoadTenants(filepath.Join(dir, "tenants.yaml"))
	if err != nil || ts.Authenticate(exampleKey) == nil {
		t.Errorf("tenants.yaml: %v (or the example key is not a tenant's)", err)
	}
	// The compose plan is the ConfigMap's.
	plan, err := os.ReadFile(filepath.Join(dir, "plans", "add.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	cm := yamlDocs(t, filepath.Join(deployDir, "kubernetes", "plans-configmap.yaml"))[0]
	if s, _ := at(cm, "data").(map[string]any)["add.yaml"].(string); s != string(plan) {
		t.Errorf("deploy/compose/plans/add.yaml differs from the ConfigMap's add.yaml")
	}
	if _, err := plans.Parse(plan, "add.yaml"); err != nil {
		t.Error(err)
	}
}

func stringsOf(l []any) []string {
	out := make([]string, len(l))
	for i, v := range l {
		out[i], _ = v.(string)
	}
	return out
}

// TestDeployComposeSmoke starts the compose file where Docker can: it needs a running daemon,
// the compose plugin and the images already present (this machine cannot pull).
func TestDeployComposeSmoke(t *testing.T) {
	if os.Getenv("SGDE_TEST_LONG") == "" {
		t.Skip("long: make test-long")
	}
	docker, err := exec.LookPath("docker")
	if err != nil {
		t.Skip("docker smoke run skipped: docker is not installed")
	}
	for _, probe := range [][]string{{"compose", "version"}, {"info"}} {
		if out, err := exec.Command(docker, probe...).CombinedOutput(); err != nil {
			t.Skipf("docker smoke run skipped: docker %s failed: %v\n%s", strings.Join(probe, " "), err, out)
		}
	}
	for _, img := range []string{"sgde:dev", "redis:7.0", "nginx:1.27"} {
		if err := exec.Command(docker, "image", "inspect", img).Run(); err != nil {
			t.Skipf("docker smoke run skipped: image %s is not present and cannot be pulled here", img)
		}
	}
	compose := filepath.Join(deployDir, "compose", "compose.yaml")
	up := exec.Command(docker, "compose", "-f", compose, "-p", "sgde-smoke", "up", "-d", "--wait")
	if out, err := up.CombinedOutput(); err != nil {
		t.Fatalf("compose up: %v\n%s", err, out)
	}
	defer exec.Command(docker, "compose", "-f", compose, "-p", "sgde-smoke", "down", "-v").Run()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		out, err := exec.Command("curl", "-fsS", "http://127.0.0.1:8080/v1/plans/add/run", "-H", "Authorization: Bearer "+exampleKey,
			"-d", `{"inputs": {"a": 2, "b": 3}}`).CombinedOutput()
		if err == nil && strings.Contains(string(out), `"output":5`) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no answer through the load balancer: %v %s", err, out)
		}
		time.Sleep(time.Second)
	}
}
