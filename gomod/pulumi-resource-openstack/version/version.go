// Package version holds the provider version, injected at link time:
//
//	go build -ldflags "-X devstack-k8s-apps/gomod/pulumi-resource-openstack/version.Version=5.5.3" ...
package version

// Version is the pulumi-openstack version this plugin reports (GetPluginInfo, schema).
// It is empty unless set with -ldflags -X; see Get.
var Version string

// Unset is what Get returns when Version was not injected: it is a valid semver
// prerelease so that tfgen still works, but it is loud enough to spot in
// `pulumi about` / plugin listings. The resource provider main refuses to serve with it.
const Unset = "0.0.0-version-not-set-via-ldflags"

// Get returns Version, or Unset when no version was injected.
func Get() string {
	if Version == "" {
		return Unset
	}
	return Version
}
