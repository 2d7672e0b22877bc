// Command pulumi-tfgen-openstack generates the Pulumi schema (schema.json) and the bridge
// metadata (bridge-metadata.json) for the OpenStack provider at build time:
//
//	pulumi-tfgen-openstack schema --out <dir>
//
// See ../../README.md for the full build sequence.
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"runtime/debug"

	"github.com/pulumi/pulumi-terraform-bridge/v3/pkg/tfgen"

	"devstack-k8s-apps/gomod/pulumi-resource-openstack/info"
	"devstack-k8s-apps/gomod/pulumi-resource-openstack/version"
)

const tfProviderModule = "github.com/terraform-provider-openstack/terraform-provider-openstack/v3"

// upstreamDocsDir locates the TF provider's module source (its docs/ feed the schema's
// descriptions). The bridge's own lookup assumes pulumi's repo layout (a "provider"
// folder under the working directory), so resolve the exact module version this binary
// was built with through `go mod download -json module@version` instead.
func upstreamDocsDir() (string, error) {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "", fmt.Errorf("no build info in binary")
	}
	v := ""
	for _, d := range bi.Deps {
		if d.Path == tfProviderModule {
			v = d.Version
			if d.Replace != nil {
				v = d.Replace.Version
			}
		}
	}
	if v == "" {
		return "", fmt.Errorf("%s not among the binary's dependencies", tfProviderModule)
	}
	out, err := exec.Command("go", "mod", "download", "-json", tfProviderModule+"@"+v).Output()
	if err != nil {
		return "", fmt.Errorf("go mod download %s@%s: %w", tfProviderModule, v, err)
	}
	var res struct{ Dir, Error string }
	if err := json.Unmarshal(out, &res); err != nil {
		return "", err
	}
	if res.Error != "" || res.Dir == "" {
		return "", fmt.Errorf("go mod download %s@%s: %s", tfProviderModule, v, res.Error)
	}
	return res.Dir, nil
}

func main() {
	// Start from empty bridge metadata; tfgen writes the result next to schema.json.
	prov := info.Provider(nil)
	if dir, err := upstreamDocsDir(); err != nil {
		fmt.Fprintf(os.Stderr, "warning: upstream docs not found, descriptions will be empty: %v\n", err)
	} else {
		prov.UpstreamRepoPath = dir
	}
	tfgen.Main(info.Pkg, version.Get(), prov)
}
