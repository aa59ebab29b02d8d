package natsdeploy

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"strings"
)

const serverModule = "github.com/nats-io/nats-server/v2"

// Binary returns a nats-server of the version this build of Stafet
// embeds: $STAFET_NATS_SERVER if set; else bin/nats-server in the
// repository the working directory is in (.ci/run builds it there); else
// one `go install`ed into the user's cache directory, once per version
// (this needs the go command and the module, from the module cache or
// the proxy).
func Binary(ctx context.Context) (string, error) {
	if p := os.Getenv("STAFET_NATS_SERVER"); p != "" {
		return p, nil
	}
	root, inRepo := repoRoot()
	if inRepo {
		p := filepath.Join(root, "bin", "nats-server")
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	version := serverVersion(root)
	if version == "" {
		return "", errors.New("natsdeploy: this build does not say which nats-server it embeds; set STAFET_NATS_SERVER")
	}
	cache, err := os.UserCacheDir()
	if err != nil {
		cache = os.TempDir()
	}
	dir := filepath.Join(cache, "stafet", "nats-server-"+version)
	out := filepath.Join(dir, "nats-server")
	if _, err := os.Stat(out); err == nil {
		return out, nil
	}
	install := exec.CommandContext(ctx, "go", "install", serverModule+"@"+version)
	install.Env = append(os.Environ(), "GOBIN="+dir)
	if b, err := install.CombinedOutput(); err != nil {
		return "", fmt.Errorf("natsdeploy: go install nats-server %s (or set STAFET_NATS_SERVER): %v: %s", version, err, strings.TrimSpace(string(b)))
	}
	return out, nil
}

// serverVersion is the nats-server module version this binary was built
// with, or, for a binary that does not link it (a test of a package that
// only runs it), the one the repository's go.mod at root requires.
func serverVersion(root string) string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, d := range bi.Deps {
			if d.Path == serverModule {
				return d.Version
			}
		}
	}
	b, err := os.ReadFile(filepath.Join(root, "go.mod"))
	if root == "" || err != nil {
		return ""
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == serverModule {
			return f[1]
		}
	}
	return ""
}

// repoRoot finds the Stafet module's root above the working directory.
func repoRoot() (string, bool) {
	dir, err := os.Getwd()
	if err != nil {
		return "", false
	}
	for {
		b, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && strings.Contains(string(b), "module github.com/stafet/stafet\n") {
			return dir, true
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", false
		}
		dir = parent
	}
}

// Version is what the nats-server at bin says it is ("v2.15.2").
func Version(ctx context.Context, bin string) (string, error) {
	out, err := exec.CommandContext(ctx, bin, "--version").Output()
	if err != nil {
		return "", fmt.Errorf("natsdeploy: %s --version: %w", bin, err)
	}
	v := strings.TrimSpace(string(out))
	_, after, found := strings.Cut(v, ": ")
	if found {
		v = after
	}
	return v, nil
}
