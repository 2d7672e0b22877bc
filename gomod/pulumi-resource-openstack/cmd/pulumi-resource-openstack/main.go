// Command pulumi-resource-openstack is the Pulumi resource provider plugin for OpenStack,
// driven by the pulumi_openstack SDKs. It serves the Terraform OpenStack provider through
// pulumi-terraform-bridge.
//
// schema-embed.json and bridge-metadata.json are generated at build time by
// pulumi-tfgen-openstack (they are not committed); see ../../README.md.
package main

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"os"

	"github.com/pulumi/pulumi-terraform-bridge/v3/pkg/tfbridge"

	"devstack-k8s-apps/gomod/pulumi-resource-openstack/info"
	"devstack-k8s-apps/gomod/pulumi-resource-openstack/version"
)

//go:embed schema-embed.json
var pulumiSchema []byte

//go:embed bridge-metadata.json
var bridgeMetadata []byte

// withVersion stamps the provider version into the (version-less) generated schema.
func withVersion(schema []byte, v string) ([]byte, error) {
	var spec map[string]json.RawMessage
	if err := json.Unmarshal(schema, &spec); err != nil {
		return nil, fmt.Errorf("embedded schema is not valid JSON: %w", err)
	}
	raw, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	spec["version"] = raw
	return json.Marshal(spec)
}

func main() {
	if version.Version == "" {
		fmt.Fprintln(os.Stderr, "pulumi-resource-openstack: built without a version; rebuild with "+
			"-ldflags \"-X devstack-k8s-apps/gomod/pulumi-resource-openstack/version.Version=<x.y.z>\"")
		os.Exit(1)
	}
	schema, err := withVersion(pulumiSchema, version.Version)
	if err != nil {
		fmt.Fprintln(os.Stderr, "pulumi-resource-openstack:", err)
		os.Exit(1)
	}
	tfbridge.Main(info.Pkg, version.Version, info.Provider(bridgeMetadata), schema)
}
