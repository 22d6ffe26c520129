package main_test

import (
	"bytes"
	"debug/elf"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// The image's tests: the Dockerfile (multi-stage, static, distroless, non-root, no shell,
// pinned bases), its build stage against `make build`, `make image` with and without a
// container engine, and the version `make build` stamps. None needs a container engine.

const buildinfoPkg = "github.com/triggerflow/triggerflow/internal/runtime/buildinfo"

// instruction is one Dockerfile instruction, continuation lines joined.
type instruction struct {
	Cmd  string // upper case: FROM, RUN, COPY, …
	Args string
}

func dockerfile(t *testing.T) []instruction {
	t.Helper()
	var out []instruction
	var cur strings.Builder
	for _, line := range strings.Split(string(repoFile(t, "Dockerfile")), "\n") {
		trimmed := strings.TrimSpace(line)
		if cur.Len() == 0 && (trimmed == "" || strings.HasPrefix(trimmed, "#")) {
			continue
		}
		if strings.HasSuffix(trimmed, `\`) {
			cur.WriteString(strings.TrimSuffix(trimmed, `\`) + " ")
			continue
		}
		cur.WriteString(trimmed)
		cmd, args, _ := strings.Cut(cur.String(), " ")
		out = append(out, instruction{Cmd: strings.ToUpper(cmd), Args: strings.TrimSpace(args)})
		cur.Reset()
	}
	return out
}

// stages splits the instructions at each FROM.
func stages(ins []instruction) [][]instruction {
	var out [][]instruction
	for _, in := range ins {
		if in.Cmd == "FROM" {
			out = append(out, nil)
		}
		if len(out) > 0 {
			out[len(out)-1] = append(out[len(out)-1], in)
		}
	}
	return out
}

// shellWords splits a command line as sh does for the quoting used here ('…', "…", \).
func shellWords(t *testing.T, s string) []string {
	t.Helper()
	var words []string
	var w strings.Builder
	inWord := false
	var quote rune
	for i := 0; i < len(s); i++ {
		c := rune(s[i])
		switch {
		case quote != 0 && c == quote:
			quote = 0
		case quote != 0:
			w.WriteRune(c)
		case c == '\'' || c == '"':
			quote, inWord = c, true
		case c == '\\' && i+1 < len(s):
			i++
			w.WriteByte(s[i])
			inWord = true
		case c == ' ' || c == '\t':
			if inWord {
				words = append(words, w.String())
				w.Reset()
				inWord = false
			}
		default:
			w.WriteRune(c)
			inWord = true
		}
	}
	if quote != 0 {
		t.Fatalf("unterminated quote in %q", s)
	}
	if inWord {
		words = append(words, w.String())
	}
	return words
}

// withoutOutput drops `-o PATH` and the package: what is left is how it builds.
func withoutOutput(words []string) (flags []string, out, pkg string) {
	for i := 0; i < len(words); i++ {
		if words[i] == "-o" && i+1 < len(words) {
			out = words[i+1]
			i++
			continue
		}
		flags = append(flags, words[i])
	}
	if n := len(flags); n > 0 && strings.HasPrefix(flags[n-1], "./") {
		pkg, flags = flags[n-1], flags[:n-1]
	}
	return flags, out, pkg
}

func needMake(t *testing.T) string {
	t.Helper()
	mk, err := exec.LookPath("make")
	if err != nil {
		t.Skipf("make is not installed (%v): the Makefile cannot be checked here", err)
	}
	return mk
}

// makeN is `make -n TARGET ARGS…` at the repository root: the commands make would run.
func makeN(t *testing.T, target string, args ...string) []string {
	t.Helper()
	cmd := exec.Command(needMake(t), append([]string{"-n", "-C", "../..", "--no-print-directory", target}, args...)...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("make -n %s: %v\n%s", target, err, out)
	}
	return strings.Split(strings.TrimSpace(string(out)), "\n")
}

// makeBuildLine is the command `make build` runs for pkg.
func makeBuildLine(t *testing.T, pkg string, args ...string) string {
	t.Helper()
	lines := makeN(t, "build", args...)
	for _, l := range lines {
		if strings.HasSuffix(l, " "+pkg) {
			return l
		}
	}
	t.Fatalf("make -n build has no line for %s:\n%s", pkg, strings.Join(lines, "\n"))
	return ""
}

// TestDockerfileBuildIsMakeBuild: the image's go build is `make build`'s for
// ./cmd/triggerflow, flag for flag (environment, -trimpath, -ldflags with the version
// stamps), with the Dockerfile's VERSION and COMMIT build args in the stamps; and every
// binary `make build` makes is built the same way.
func TestDockerfileBuildIsMakeBuild(t *testing.T) {
	t.Parallel()
	var run string
	for _, in := range dockerfile(t) {
		if in.Cmd == "RUN" && strings.Contains(in.Args, "go build") {
			if run != "" {
				t.Fatalf("two go build lines in the Dockerfile:\n%s\n%s", run, in.Args)
			}
			run = in.Args
		}
	}
	if run == "" {
		t.Fatal("the Dockerfile has no RUN … go build")
	}
	docker, dockerOut, dockerPkg := withoutOutput(shellWords(t, run))

	// $$ is make's literal $: the recipe then names the build args as the Dockerfile does.
	mk := makeBuildLine(t, "./cmd/triggerflow", "GO=go", "VERSION=$${VERSION}", "COMMIT=$${COMMIT}")
	make, _, makePkg := withoutOutput(shellWords(t, mk))

	if !slices.Equal(docker, make) || dockerPkg != makePkg {
		t.Errorf("the Dockerfile's build differs from make build's:\n  Dockerfile: %q %s\n  make build: %q %s", docker, dockerPkg, make, makePkg)
	}
	for _, want := range []string{"CGO_ENABLED=0", "-trimpath", "-X " + buildinfoPkg + ".version=${VERSION}", "-X " + buildinfoPkg + ".commit=${COMMIT}", "-s -w"} {
		if !strings.Contains(strings.Join(make, " "), want) {
			t.Errorf("make build does not build with %q: %s", want, mk)
		}
	}
	if !strings.Contains(string(repoFile(t, "Dockerfile")), "--from=build "+dockerOut+" ") {
		t.Errorf("the final stage does not copy the binary built at %s", dockerOut)
	}

	for _, l := range makeN(t, "build", "GO=go", "VERSION=$${VERSION}", "COMMIT=$${COMMIT}") {
		flags, out, pkg := withoutOutput(shellWords(t, l))
		if !slices.Equal(flags, make) || !strings.HasPrefix(out, "bin/") || pkg == "" {
			t.Errorf("make build builds %s differently: %s", pkg, l)
		}
	}
}

// TestDockerfile: two stages, the Go of go.work building, a distroless (or scratch) final
// stage with no RUN (no shell in it, none needed), a non-root numeric USER, an exec-form
// ENTRYPOINT on PATH, bases pinned (no :latest, no bare name); and a .dockerignore that
// keeps binaries, local JetStream data and .git out of the build.
func TestDockerfile(t *testing.T) {
	t.Parallel()
	st := stages(dockerfile(t))
	if len(st) < 2 {
		t.Fatalf("%d stage(s), want a build stage and a final one", len(st))
	}
	goWork := regexp.MustCompile(`(?m)^go (\S+)$`).FindStringSubmatch(string(repoFile(t, "go.work")))
	if goWork == nil {
		t.Fatal("go.work has no go line")
	}
	if from := st[0][0].Args; from != "golang:"+goWork[1]+" AS build" {
		t.Errorf("build stage FROM %q, want golang:%s AS build (go.work's Go)", from, goWork[1])
	}
	for _, s := range st {
		base := strings.Fields(s[0].Args)[0]
		name, tag, hasTag := strings.Cut(base, ":")
		if strings.Contains(base, "@sha256:") {
			continue
		}
		if !hasTag || tag == "latest" || strings.HasPrefix(tag, "latest") {
			t.Errorf("FROM %s: pin a version, never latest or an untagged name", base)
		}
		_ = name
	}
	final := st[len(st)-1]
	base := strings.Fields(final[0].Args)[0]
	if !strings.HasPrefix(base, "gcr.io/distroless/static") && base != "scratch" {
		t.Errorf("final stage FROM %s, want distroless static or scratch (a static binary, no shell)", base)
	}
	var user, entrypoint string
	for _, in := range final[1:] {
		switch in.Cmd {
		case "RUN":
			t.Errorf("RUN %s in the final stage: it has no shell, and needs none", in.Args)
		case "USER":
			user = in.Args
		case "ENTRYPOINT":
			entrypoint = in.Args
		}
	}
	uid, gid, _ := strings.Cut(user, ":")
	if !regexp.MustCompile(`^[1-9][0-9]*$`).MatchString(uid) || (gid != "" && !regexp.MustCompile(`^[1-9][0-9]*$`).MatchString(gid)) {
		t.Errorf("final USER %q: want a numeric non-root uid[:gid] (Kubernetes runAsNonRoot checks it)", user)
	}
	var ep []string
	if err := json.Unmarshal([]byte(entrypoint), &ep); err != nil || len(ep) == 0 {
		t.Fatalf("ENTRYPOINT %s: want the exec form [\"/…/triggerflow\"] (no shell): %v", entrypoint, err)
	}
	if ep[0] != "/usr/local/bin/triggerflow" {
		t.Errorf("ENTRYPOINT %q: want /usr/local/bin/triggerflow, on PATH, so `command: [triggerflow]` finds it", ep[0])
	}
	if !strings.Contains(string(repoFile(t, "Dockerfile")), "COPY --from=build /out/triggerflow "+ep[0]+"\n") {
		t.Errorf("the final stage does not install the binary at %s", ep[0])
	}
	ignore := strings.Fields(string(repoFile(t, ".dockerignore")))
	for _, want := range []string{".git", "bin", ".triggerflow"} {
		if !slices.Contains(ignore, want) {
			t.Errorf(".dockerignore does not exclude %s", want)
		}
	}
}

// toolsDir is a directory for PATH with git only (so the Makefile reads VERSION from it)
// and the given fake engines: shell scripts that log their arguments to log and answer
// `info` with exit code infoExit[engine].
func toolsDir(t *testing.T, log string, infoExit map[string]int) string {
	t.Helper()
	dir := t.TempDir()
	if git, err := exec.LookPath("git"); err == nil {
		if err := os.Symlink(git, filepath.Join(dir, "git")); err != nil {
			t.Fatal(err)
		}
	}
	for engine, code := range infoExit {
		script := "#!/bin/sh\necho \"" + engine + " $*\" >> '" + log + "'\n" +
			"if [ \"$1\" = info ]; then exit " + string(rune('0'+code)) + "; fi\nexit 0\n"
		if err := os.WriteFile(filepath.Join(dir, engine), []byte(script), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// makeImage runs `make image ARGS…` with PATH set to path only.
func makeImage(t *testing.T, path string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	cmd := exec.Command(needMake(t), append([]string{"-C", "../..", "--no-print-directory", "image"}, args...)...)
	cmd.Env = []string{"PATH=" + path, "HOME=" + t.TempDir()}
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode(), o.String(), e.String()
	} else if err != nil {
		t.Fatal(err)
	}
	return 0, o.String(), e.String()
}

// TestMakeImage: without a container engine `make image` says so, and what to install,
// and fails; with one it runs `<engine> build` with the version build args and the tag
// TAG (default VERSION) of IMAGE; an engine that does not answer is passed over; TAG=latest
// is refused before any engine runs.
func TestMakeImage(t *testing.T) {
	t.Parallel()
	log := filepath.Join(t.TempDir(), "engine.log")
	logged := func() string {
		b, _ := os.ReadFile(log)
		_ = os.Remove(log)
		return string(b)
	}

	code, _, errOut := makeImage(t, toolsDir(t, log, nil))
	if code == 0 || !strings.Contains(errOut, "no container engine: none of docker podman nerdctl is on PATH") || !strings.Contains(errOut, "install Docker") {
		t.Errorf("no engine: exit %d, stderr %q", code, errOut)
	}

	code, _, errOut = makeImage(t, toolsDir(t, log, map[string]int{"docker": 1}))
	if code == 0 || !strings.Contains(errOut, "found docker but none answers") {
		t.Errorf("an engine that does not answer: exit %d, stderr %q", code, errOut)
	}
	if got := logged(); got != "docker info\n" {
		t.Errorf("the silent engine was asked %q", got)
	}

	tools := toolsDir(t, log, map[string]int{"docker": 1, "podman": 0})
	code, out, errOut := makeImage(t, tools, "VERSION=v1.4.0", "COMMIT=4b09d74")
	want := "podman build --build-arg VERSION=v1.4.0 --build-arg COMMIT=4b09d74 -t ghcr.io/triggerflow/triggerflow:v1.4.0 -f Dockerfile ."
	if got := logged(); code != 0 || got != "docker info\npodman info\n"+want+"\n" || !strings.Contains(out, want) {
		t.Errorf("podman: exit %d, ran %q, stdout %q, stderr %q; want %q", code, got, out, errOut, want)
	}

	code, _, errOut = makeImage(t, tools, "TAG=v1.4.0-rc1", "IMAGE=registry.example/tf", "VERSION=v1.4.0", "COMMIT=4b09d74")
	want = "podman build --build-arg VERSION=v1.4.0 --build-arg COMMIT=4b09d74 -t registry.example/tf:v1.4.0-rc1 -f Dockerfile ."
	if got := logged(); code != 0 || !strings.HasSuffix(got, want+"\n") {
		t.Errorf("TAG and IMAGE: exit %d, ran %q, stderr %q; want %q", code, got, errOut, want)
	}

	code, _, errOut = makeImage(t, tools)
	if got := logged(); code != 0 || !regexp.MustCompile(`-t ghcr\.io/triggerflow/triggerflow:\S+ `).MatchString(got) || strings.Contains(got, ":latest") {
		t.Errorf("default tag: exit %d, ran %q, stderr %q", code, got, errOut)
	}

	code, _, errOut = makeImage(t, tools, "TAG=latest")
	if got := logged(); code == 0 || got != "" || !strings.Contains(errOut, "TAG=latest refused") {
		t.Errorf("TAG=latest: exit %d, ran %q, stderr %q", code, got, errOut)
	}
}

// TestMakeBuildStampsVersion: the binary `make build` makes (its command, run here into a
// temporary directory) is static and says the VERSION and COMMIT it was given; by
// default VERSION is `git describe --tags --always --dirty` and COMMIT the HEAD commit.
func TestMakeBuildStampsVersion(t *testing.T) {
	t.Parallel()
	line := makeBuildLine(t, "./cmd/triggerflow", "GO=go", "VERSION=v9.8.7-test", "COMMIT=0123abc")
	bin := filepath.Join(t.TempDir(), "triggerflow")
	line = strings.Replace(line, "-o bin/triggerflow ", "-o '"+bin+"' ", 1)
	build := exec.Command("sh", "-c", line)
	build.Dir = "../.."
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", line, err, out)
	}
	out, err := exec.Command(bin, "version").CombinedOutput()
	if err != nil {
		t.Fatalf("triggerflow version: %v\n%s", err, out)
	}
	for _, want := range []string{"triggerflow v9.8.7-test\n", "commit:      0123abc\n"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("triggerflow version does not say %q:\n%s", want, out)
		}
	}
	f, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Errorf("the binary needs a dynamic loader: not static (CGO_ENABLED=0)")
		}
	}

	describe, err := exec.Command("git", "-C", "../..", "describe", "--tags", "--always", "--dirty").Output()
	if err != nil {
		t.Skipf("git describe: %v: the default VERSION cannot be checked here", err)
	}
	head, _ := exec.Command("git", "-C", "../..", "rev-parse", "HEAD").Output()
	def := makeBuildLine(t, "./cmd/triggerflow")
	for _, want := range []string{buildinfoPkg + ".version=" + strings.TrimSpace(string(describe)) + " ", buildinfoPkg + ".commit=" + strings.TrimSpace(string(head)) + `"`} {
		if !strings.Contains(def, want) {
			t.Errorf("make build does not stamp %q by default: %s", want, def)
		}
	}
}
