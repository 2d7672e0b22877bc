// Package info builds the tfbridge.ProviderInfo that maps the Terraform OpenStack
// provider (terraform-provider-openstack v3) onto the Pulumi "openstack" package, so
// that the generated schema lines up with the pulumi_openstack 5.5.x SDKs (tokens,
// property names, provider config keys).
//
// It is shared by the build-time schema generator (cmd/pulumi-tfgen-openstack) and the
// runtime plugin (cmd/pulumi-resource-openstack).
package info

import (
	"fmt"
	"strings"
	"unicode"

	"github.com/pulumi/pulumi-terraform-bridge/v3/pkg/tfbridge"
	tfbridgetokens "github.com/pulumi/pulumi-terraform-bridge/v3/pkg/tfbridge/tokens"
	shimv2 "github.com/pulumi/pulumi-terraform-bridge/v3/pkg/tfshim/sdk-v2"
	"github.com/pulumi/pulumi/sdk/v3/go/common/tokens"
	"github.com/terraform-provider-openstack/terraform-provider-openstack/v3/openstack"

	"devstack-k8s-apps/gomod/pulumi-resource-openstack/version"
)

const (
	// Pkg is the Pulumi package name.
	Pkg = "openstack"
	// tfPrefix is the prefix of every TF resource / data source type name.
	tfPrefix = "openstack_"
)

// tfModules maps the TF type-name prefix (after "openstack_") to the Pulumi module the
// pulumi_openstack SDK puts those resources in. Anything else lands in "index"
// (e.g. openstack_taas_tap_mirror_v2, openstack_workflow_workflow_v2), as in the SDK.
var tfModules = map[string]string{
	"bgpvpn_":           "bgpvpn",
	"blockstorage_":     "blockstorage",
	"compute_":          "compute",
	"containerinfra_":   "containerinfra",
	"db_":               "database",
	"dns_":              "dns",
	"fw_":               "firewall",
	"identity_":         "identity",
	"images_":           "images",
	"keymanager_":       "keymanager",
	"lb_":               "loadbalancer",
	"loadbalancer_":     "loadbalancer",
	"networking_":       "networking",
	"objectstorage_":    "objectstorage",
	"orchestration_":    "orchestration",
	"sharedfilesystem_": "sharedfilesystem",
	"vpnaas_":           "vpnaas",
}

// With the module map above, the bridge's standard naming (module + UpperCamel(rest))
// already yields the SDK token for most types, e.g.
// openstack_blockstorage_volume_type_v3 -> openstack:blockstorage/volumeTypeV3:VolumeTypeV3.
// The types below carry historical names in pulumi_openstack (mostly the version suffix
// dropped, or a different word split). Values are the Pulumi type name; the module still
// comes from tfModules. This table was derived by comparing the TF provider v3.4.0 type
// list with the tokens present in the pulumi_openstack 5.5.3 Python SDK.
var resourceNames = map[string]string{
	"openstack_blockstorage_quotaset_v3":                 "QuoteSetV3",
	"openstack_blockstorage_volume_attach_v3":            "VolumeAttach",
	"openstack_blockstorage_volume_v3":                   "Volume",
	"openstack_compute_flavor_access_v2":                 "FlavorAccess",
	"openstack_compute_flavor_v2":                        "Flavor",
	"openstack_compute_instance_v2":                      "Instance",
	"openstack_compute_interface_attach_v2":              "InterfaceAttach",
	"openstack_compute_keypair_v2":                       "Keypair",
	"openstack_compute_quotaset_v2":                      "QuotaSetV2",
	"openstack_compute_servergroup_v2":                   "ServerGroup",
	"openstack_compute_volume_attach_v2":                 "VolumeAttach",
	"openstack_containerinfra_cluster_v1":                "Cluster",
	"openstack_containerinfra_clustertemplate_v1":        "ClusterTemplate",
	"openstack_containerinfra_nodegroup_v1":              "NodeGroup",
	"openstack_db_configuration_v1":                      "Configuration",
	"openstack_db_database_v1":                           "Database",
	"openstack_db_instance_v1":                           "Instance",
	"openstack_db_user_v1":                               "User",
	"openstack_dns_recordset_v2":                         "RecordSet",
	"openstack_dns_transfer_accept_v2":                   "TransferAccept",
	"openstack_dns_transfer_request_v2":                  "TransferRequest",
	"openstack_dns_zone_v2":                              "Zone",
	"openstack_identity_application_credential_v3":       "ApplicationCredential",
	"openstack_identity_inherit_role_assignment_v3":      "InheritRoleAssignment",
	"openstack_identity_project_v3":                      "Project",
	"openstack_identity_role_assignment_v3":              "RoleAssignment",
	"openstack_identity_role_v3":                         "Role",
	"openstack_identity_user_v3":                         "User",
	"openstack_images_image_access_accept_v2":            "ImageAccessAccept",
	"openstack_images_image_access_v2":                   "ImageAccess",
	"openstack_images_image_v2":                          "Image",
	"openstack_lb_l7policy_v2":                           "L7PolicyV2",
	"openstack_lb_l7rule_v2":                             "L7RuleV2",
	"openstack_lb_listener_v2":                           "Listener",
	"openstack_lb_loadbalancer_v2":                       "LoadBalancer",
	"openstack_lb_member_v2":                             "Member",
	"openstack_lb_members_v2":                            "Members",
	"openstack_lb_monitor_v2":                            "Monitor",
	"openstack_lb_pool_v2":                               "Pool",
	"openstack_lb_quota_v2":                              "Quota",
	"openstack_networking_addressscope_v2":               "AddressScope",
	"openstack_networking_floatingip_associate_v2":       "FloatingIpAssociate",
	"openstack_networking_floatingip_v2":                 "FloatingIp",
	"openstack_networking_network_v2":                    "Network",
	"openstack_networking_port_secgroup_associate_v2":    "PortSecGroupAssociate",
	"openstack_networking_port_v2":                       "Port",
	"openstack_networking_portforwarding_v2":             "PortForwardingV2",
	"openstack_networking_qos_bandwidth_limit_rule_v2":   "QosBandwidthLimitRule",
	"openstack_networking_qos_dscp_marking_rule_v2":      "QosDscpMarkingRule",
	"openstack_networking_qos_minimum_bandwidth_rule_v2": "QosMinimumBandwidthRule",
	"openstack_networking_qos_policy_v2":                 "QosPolicy",
	"openstack_networking_router_interface_v2":           "RouterInterface",
	"openstack_networking_router_route_v2":               "RouterRoute",
	"openstack_networking_router_v2":                     "Router",
	"openstack_networking_secgroup_rule_v2":              "SecGroupRule",
	"openstack_networking_secgroup_v2":                   "SecGroup",
	"openstack_networking_subnet_route_v2":               "SubnetRoute",
	"openstack_networking_subnet_v2":                     "Subnet",
	"openstack_networking_subnetpool_v2":                 "SubnetPool",
	"openstack_networking_trunk_v2":                      "Trunk",
	"openstack_objectstorage_container_v1":               "Container",
	"openstack_objectstorage_object_v1":                  "ContainerObject",
	"openstack_objectstorage_tempurl_v1":                 "TempUrl",
	"openstack_sharedfilesystem_securityservice_v2":      "SecurityService",
	"openstack_sharedfilesystem_share_access_v2":         "ShareAccess",
	"openstack_sharedfilesystem_share_v2":                "Share",
	"openstack_sharedfilesystem_sharenetwork_v2":         "ShareNetwork",
	"openstack_vpnaas_endpoint_group_v2":                 "EndpointGroup",
	"openstack_vpnaas_ike_policy_v2":                     "IkePolicy",
	"openstack_vpnaas_ipsec_policy_v2":                   "IpSecPolicy",
	"openstack_vpnaas_service_v2":                        "Service",
	"openstack_vpnaas_site_connection_v2":                "SiteConnection"}

// dataSourceNames is the data-source counterpart of resourceNames (function names).
var dataSourceNames = map[string]string{
	"openstack_compute_availability_zones_v2":            "getAvailabilityZones",
	"openstack_compute_flavor_v2":                        "getFlavor",
	"openstack_compute_keypair_v2":                       "getKeypair",
	"openstack_compute_quotaset_v2":                      "getQuotaSetV2",
	"openstack_containerinfra_cluster_v1":                "getCluster",
	"openstack_containerinfra_clustertemplate_v1":        "getClusterTemplate",
	"openstack_containerinfra_nodegroup_v1":              "getNodeGroup",
	"openstack_dns_zone_v2":                              "getDnsZone",
	"openstack_identity_auth_scope_v3":                   "getAuthScope",
	"openstack_identity_endpoint_v3":                     "getEndpoint",
	"openstack_identity_group_v3":                        "getGroup",
	"openstack_identity_project_v3":                      "getProject",
	"openstack_identity_role_v3":                         "getRole",
	"openstack_identity_service_v3":                      "getService",
	"openstack_identity_user_v3":                         "getUser",
	"openstack_images_image_ids_v2":                      "getImageIds",
	"openstack_images_image_v2":                          "getImage",
	"openstack_keymanager_container_v1":                  "getContainer",
	"openstack_keymanager_secret_v1":                     "getSecret",
	"openstack_loadbalancer_flavor_v2":                   "getLbFlavorDeprecated",
	"openstack_networking_addressscope_v2":               "getAddressScope",
	"openstack_networking_floatingip_v2":                 "getFloatingIp",
	"openstack_networking_network_v2":                    "getNetwork",
	"openstack_networking_port_ids_v2":                   "getPortIds",
	"openstack_networking_port_v2":                       "getPort",
	"openstack_networking_qos_bandwidth_limit_rule_v2":   "getQosBandwidthLimitRule",
	"openstack_networking_qos_dscp_marking_rule_v2":      "getQosDscpMarkingRule",
	"openstack_networking_qos_minimum_bandwidth_rule_v2": "getQosMinimumBandwidthRule",
	"openstack_networking_qos_policy_v2":                 "getQosPolicy",
	"openstack_networking_router_v2":                     "getRouter",
	"openstack_networking_secgroup_v2":                   "getSecGroup",
	"openstack_networking_subnet_v2":                     "getSubnet",
	"openstack_networking_subnetpool_v2":                 "getSubnetPool",
	"openstack_networking_trunk_v2":                      "getTrunk",
	"openstack_sharedfilesystem_availability_zones_v2":   "getAvailbilityZones",
	"openstack_sharedfilesystem_share_v2":                "getShare",
	"openstack_sharedfilesystem_sharenetwork_v2":         "getShareNetwork",
	"openstack_sharedfilesystem_snapshot_v2":             "getSnapshot"}

// legacyResources are resources that the SDK also exposes under an older, deprecated
// token in the index module (TF name -> legacy Pulumi type name in "index").
var legacyResources = map[string]string{
	"openstack_bgpvpn_v2":                   "BgpvpnV2",
	"openstack_bgpvpn_network_associate_v2": "BgpvpnNetworkAssociateV2",
	"openstack_bgpvpn_port_associate_v2":    "BgpvpnPortAssociateV2",
	"openstack_bgpvpn_router_associate_v2":  "BgpvpnRouterAssociateV2",
	"openstack_lb_flavorprofile_v2":         "LbFlavorprofileV2",
	"openstack_lb_loadbalancer_v2":          "LbLoadbalancerV2",
}

// legacyDataSources: same as legacyResources, for functions.
var legacyDataSources = map[string]string{
	"openstack_fw_group_v2":  "getFwGroupV2",
	"openstack_fw_policy_v2": "getFwPolicyV2",
	"openstack_fw_rule_v2":   "getFwRuleV2",
}

// moduleOf returns the Pulumi module for a TF type name.
func moduleOf(tfName string) string {
	rest := strings.TrimPrefix(tfName, tfPrefix)
	best := ""
	for prefix := range tfModules {
		if strings.HasPrefix(rest, prefix) && len(prefix) > len(best) {
			best = prefix
		}
	}
	if best == "" {
		return "index"
	}
	return tfModules[best]
}

// token builds "openstack:<module>/<lowerFirst(name)>:<name>".
func token(module, name string) string {
	lower := string(unicode.ToLower(rune(name[0]))) + name[1:]
	return fmt.Sprintf("%s:%s/%s:%s", Pkg, module, lower, name)
}

// envDefault is a provider config default read from the first set environment variable.
func envDefault(vars ...string) *tfbridge.SchemaInfo {
	return &tfbridge.SchemaInfo{Default: &tfbridge.DefaultInfo{EnvVars: vars}}
}

// Provider returns the provider info. metadata is the bridge metadata produced by tfgen
// (bridge-metadata.json); tfgen itself starts from an empty document ("{}").
func Provider(metadata []byte) tfbridge.ProviderInfo {
	if len(metadata) == 0 {
		metadata = []byte("{}")
	}
	p := shimv2.NewProvider(openstack.Provider())

	prov := tfbridge.ProviderInfo{
		P:                       p,
		Name:                    Pkg,
		Version:                 version.Get(),
		DisplayName:             "OpenStack",
		Description:             "A Pulumi package for creating and managing OpenStack cloud resources.",
		Keywords:                []string{"openstack", "category/cloud"},
		License:                 "Apache-2.0",
		Homepage:                "https://pulumi.io",
		Repository:              "https://github.com/pulumi/pulumi-openstack",
		Publisher:               "Pulumi",
		GitHubOrg:               "terraform-provider-openstack",
		TFProviderModuleVersion: "v3",
		TFProviderVersion:       "3.4.0",
		MetadataInfo:            tfbridge.NewProviderMetadata(metadata),
		// The TF provider already falls back to the OS_* variables for most settings;
		// these mirror pulumi-openstack so that the schema advertises the same defaults.
		Config: map[string]*tfbridge.SchemaInfo{
			"auth_url":                      envDefault("OS_AUTH_URL"),
			"region":                        envDefault("OS_REGION_NAME"),
			"user_name":                     envDefault("OS_USERNAME"),
			"user_id":                       envDefault("OS_USER_ID"),
			"tenant_id":                     envDefault("OS_TENANT_ID", "OS_PROJECT_ID"),
			"tenant_name":                   envDefault("OS_TENANT_NAME", "OS_PROJECT_NAME"),
			"password":                      envDefault("OS_PASSWORD"),
			"token":                         envDefault("OS_TOKEN", "OS_AUTH_TOKEN"),
			"user_domain_name":              envDefault("OS_USER_DOMAIN_NAME"),
			"user_domain_id":                envDefault("OS_USER_DOMAIN_ID"),
			"project_domain_name":           envDefault("OS_PROJECT_DOMAIN_NAME"),
			"project_domain_id":             envDefault("OS_PROJECT_DOMAIN_ID"),
			"domain_id":                     envDefault("OS_DOMAIN_ID"),
			"domain_name":                   envDefault("OS_DOMAIN_NAME"),
			"insecure":                      envDefault("OS_INSECURE"),
			"endpoint_type":                 envDefault("OS_ENDPOINT_TYPE"),
			"cacert_file":                   envDefault("OS_CACERT"),
			"cert":                          envDefault("OS_CERT"),
			"key":                           envDefault("OS_KEY"),
			"swauth":                        envDefault("OS_SWAUTH"),
			"cloud":                         envDefault("OS_CLOUD"),
			"application_credential_id":     envDefault("OS_APPLICATION_CREDENTIAL_ID"),
			"application_credential_name":   envDefault("OS_APPLICATION_CREDENTIAL_NAME"),
			"application_credential_secret": envDefault("OS_APPLICATION_CREDENTIAL_SECRET"),
			"delayed_auth":                  envDefault("OS_DELAYED_AUTH"),
			"allow_reauth":                  envDefault("OS_ALLOW_REAUTH"),
		},
		Resources:   map[string]*tfbridge.ResourceInfo{},
		DataSources: map[string]*tfbridge.DataSourceInfo{},
		Python: &tfbridge.PythonInfo{
			RespectSchemaVersion: true,
			Requires:             map[string]string{"pulumi": ">=3.0.0,<4.0.0"},
		},
	}

	for tfName, name := range resourceNames {
		prov.Resources[tfName] = &tfbridge.ResourceInfo{Tok: tokens.Type(token(moduleOf(tfName), name))}
	}
	for tfName, name := range dataSourceNames {
		prov.DataSources[tfName] = &tfbridge.DataSourceInfo{Tok: tokens.ModuleMember(token(moduleOf(tfName), name))}
	}

	// Standard tokens for everything not listed above.
	prov.MustComputeTokens(tfbridgetokens.MappedModules(tfPrefix, "index", tfModules,
		tfbridgetokens.MakeStandard(Pkg)))

	// Deprecated index-module aliases kept by pulumi_openstack. Registered after the
	// standard tokens so that the current token is the computed/overridden one.
	for tfName, legacy := range legacyResources {
		cur := prov.Resources[tfName]
		newTok := cur.Tok
		cur.Tok = ""
		prov.RenameResourceWithAlias(tfName, tokens.Type(token("index", legacy)), newTok,
			"index", moduleOf(tfName), cur)
	}
	for tfName, legacy := range legacyDataSources {
		cur := prov.DataSources[tfName]
		newTok := cur.Tok
		cur.Tok = ""
		prov.RenameDataSource(tfName, tokens.ModuleMember(token("index", legacy)), newTok,
			"index", moduleOf(tfName), cur)
	}

	// pulumi_openstack exposes the stack's TF "outputs" attribute as "StackOutputs"
	// ("outputs" is reserved-ish in Pulumi SDKs).
	stack := prov.Resources["openstack_orchestration_stack_v1"]
	if stack.Fields == nil {
		stack.Fields = map[string]*tfbridge.SchemaInfo{}
	}
	stack.Fields["outputs"] = &tfbridge.SchemaInfo{Name: "StackOutputs"}

	prov.MustApplyAutoAliases()
	// As pulumi-openstack: a string input named "name" is auto-named (<urn name>-<random>).
	prov.SetAutonaming(255, "-")

	return prov
}
