// The DICOMweb archive: a Python Function App on Flex Consumption, its DICOM data in a storage account of
// its own (versioned, soft-deleted, erased on a stated schedule), monitoring with the audit log, and one
// user-assigned identity. No keys anywhere. Optionally private: VNet integration and private endpoints.
targetScope = 'resourceGroup'

@description('Any name for this deployment, e.g. the azd environment name `dicomweb-prod`. Resource names keep its first 8 lowercase letters and digits and add a hash of the resource group and the whole name, so every name gives valid, distinct resource names.')
@minLength(1)
@maxLength(64)
param namePrefix string

@description('Azure region.')
param location string = resourceGroup().location

@description('Client (application) id of the Entra app registration that protects the API.')
param apiClientId string

@description('Secret key of the index: lookup keys of patient attributes are HMACs under it, so they are unreadable to anyone reading the tables. Set it once (`azd env set DICOM_INDEX_KEY $(openssl rand -hex 32)`) and never change it: pointers written under another key are not found.')
@secure()
@minLength(32)
param indexKey string

@description('Data partitions: several institutions in one service, each with its own archive; routes then need /partitions/{name}.')
param dataPartitionsEnabled bool = false

@description('Optional access per data partition: partition name -> Entra group object ids or app role values whose tokens may use it, e.g. {"hospital-a": ["<group id>"], "*": ["Dicom.AllPartitions"]}. Empty: the roles apply to every partition.')
param partitionAccess object = {}

@description('Origins allowed to call the API from a browser (e.g. an OHIF viewer elsewhere). The viewer deployed here is allowed without being listed. Empty: none.')
param corsAllowedOrigins array = []

@description('Deploy the OHIF viewer as a Static Web App, allowed by the API\'s CORS, signing in with Entra ID.')
param viewerEnabled bool = true

@description('Region of the viewer\'s Static Web App; the service exists in these regions only (it serves its files from a global network wherever it is).')
@allowed(['westus2', 'centralus', 'eastus2', 'westeurope', 'eastasia'])
param viewerLocation string = 'westeurope'

@description('Plan of the viewer\'s Static Web App: Free (250 MB of content; the viewer is about 205 MB) or Standard.')
@allowed(['Free', 'Standard'])
param viewerSku string = 'Free'

@description('Client (application) id of the app registration the viewer signs in with (a single-page application with the viewer\'s redirect URIs). Empty: the API\'s own registration.')
param viewerClientId string = ''

@description('Erasure: a deleted DICOM blob is gone for good at most this many days after the DELETE, plus up to 2 days for the daily lifecycle run. Half of it (rounded down) it stays a previous version, the rest it stays soft-deleted and recoverable.')
@minValue(2)
@maxValue(365)
param erasureDays int = 14

@description('Largest request body, in bytes, that the Functions host lets through and the service accepts (FUNCTIONS_REQUEST_BODY_SIZE_LIMIT and DICOM_MAX_REQUEST_BYTES). Default: 2 GiB of DICOM plus 64 MiB for multipart framing.')
@minValue(1048576)
param maxRequestBytes int = 2214592512

@description('Days the audit events (custom events named dicomweb.audit, in the AppEvents table) are kept; the first 90 can be queried interactively, the rest are kept in long-term retention. Other logs keep the workspace default of 30 days.')
@minValue(90)
@maxValue(4383)
param auditRetentionDays int = 365

@description('Send the function app outbound traffic through a new virtual network (VNet integration).')
param vnetIntegration bool = false

@description('Reach both storage accounts only through private endpoints (blob, table, queue) in that virtual network, with public network access disabled. Turns VNet integration on.')
param storagePrivateEndpoints bool = false

@description('Address space of the virtual network (a /16 or larger: its first two /24 subnets are used).')
param vnetAddressPrefix string = '10.40.0.0/16'

@description('Tags for azd (which resources belong to which service).')
param environmentName string = namePrefix

// Resource names from any name: lowercase letters and digits only, at most 8, then 13 characters of hash, so a
// storage account name ('<8>dcm<13>') is at most 24 lowercase letters and digits.
var nameCharacters = 'abcdefghijklmnopqrstuvwxyz0123456789'
var loweredName = toLower(namePrefix)
var keptCharacters = join(filter(map(range(0, length(loweredName)), i => substring(loweredName, i, 1)), c => contains(nameCharacters, c)), '')
var shortName = take(empty(keptCharacters) ? 'dicom' : keptCharacters, 8)
var suffix = uniqueString(resourceGroup().id, namePrefix)
var tags = { 'azd-env-name': environmentName, application: 'dicomweb' }
var networked = vnetIntegration || storagePrivateEndpoints

// Built-in role definition ids.
var roles = {
  blobDataContributor: 'ba92f5b4-2d11-453d-a403-e96b0029c9fe'
  blobDataOwner: 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b'
  queueDataContributor: '974c5e8b-45b9-4653-ba55-5f855dd0fb88'
  tableDataContributor: '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3'
  monitoringMetricsPublisher: '3913510d-42f4-4e42-8a64-420c390055eb'
}

resource identity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: '${shortName}-id-${suffix}'
  location: location
  tags: tags
}

module monitoring 'modules/monitoring.bicep' = {
  name: 'monitoring'
  params: {
    name: '${shortName}-${suffix}'
    location: location
    tags: tags
    publisherPrincipalId: identity.properties.principalId
    metricsPublisherRoleId: roles.monitoringMetricsPublisher
    auditRetentionDays: auditRetentionDays
  }
}

module network 'modules/network.bicep' = if (networked) {
  name: 'network'
  params: {
    name: '${shortName}-net-${suffix}'
    location: location
    tags: tags
    addressPrefix: vnetAddressPrefix
    privateDnsZones: storagePrivateEndpoints
  }
}

// DICOM data: blobs (instances and their metadata) and the index tables. Versioning and soft delete let an
// operator undo a bad delete or upsert for a while; the lifecycle policy then erases it (erasureDays).
module dataStorage 'modules/storage.bicep' = {
  name: 'data-storage'
  params: {
    name: '${shortName}dcm${suffix}'
    location: location
    tags: tags
    protectBlobs: true
    previousVersionDays: erasureDays / 2
    softDeleteDays: erasureDays - erasureDays / 2
    containers: ['dicom']
    tables: ['dicomstudies', 'dicomlookup', 'dicomjournal']
    // Reindexing (extended query tags) runs from this queue, through a queue-triggered function.
    queues: ['dicom-operations']
    principalId: identity.properties.principalId
    roleIds: [roles.blobDataContributor, roles.tableDataContributor, roles.queueDataContributor]
    privateEndpointSubnetId: storagePrivateEndpoints ? network.outputs.endpointSubnetId : ''
    privateEndpointServices: ['blob', 'table', 'queue']
  }
}

// The Functions host's own storage (leases, deployment package): kept apart so its churn is not versioned
// and so access to patient data can be reviewed on one account alone.
module hostStorage 'modules/storage.bicep' = {
  name: 'host-storage'
  params: {
    name: '${shortName}fn${suffix}'
    location: location
    tags: tags
    protectBlobs: false
    previousVersionDays: 0
    softDeleteDays: 7
    containers: ['deployment-package']
    tables: []
    principalId: identity.properties.principalId
    roleIds: [roles.blobDataOwner, roles.queueDataContributor, roles.tableDataContributor]
    privateEndpointSubnetId: storagePrivateEndpoints ? network.outputs.endpointSubnetId : ''
    privateEndpointServices: ['blob', 'queue', 'table']
  }
}

// The viewer first: its origin is one of the API's CORS origins.
module viewer 'modules/viewer.bicep' = if (viewerEnabled) {
  name: 'viewer'
  params: {
    name: '${shortName}-viewer-${suffix}'
    location: viewerLocation
    tags: union(tags, { 'azd-service-name': 'viewer' })
    sku: viewerSku
  }
}
var viewerUrl = viewerEnabled ? viewer.outputs.url : ''
var allowedOrigins = viewerEnabled ? union(corsAllowedOrigins, [viewerUrl]) : corsAllowedOrigins

module functionApp 'modules/functionapp.bicep' = {
  name: 'function-app'
  params: {
    name: '${shortName}-api-${suffix}'
    location: location
    tags: union(tags, { 'azd-service-name': 'api' })
    identityId: identity.id
    identityClientId: identity.properties.clientId
    hostStorageName: hostStorage.outputs.name
    hostBlobEndpoint: hostStorage.outputs.blobEndpoint
    dataStorageName: dataStorage.outputs.name
    appInsightsName: monitoring.outputs.appInsightsName
    apiClientId: apiClientId
    corsAllowedOrigins: allowedOrigins
    maxRequestBytes: maxRequestBytes
    indexKey: indexKey
    dataPartitionsEnabled: dataPartitionsEnabled
    partitionAccess: partitionAccess
    subnetId: networked ? network.outputs.appSubnetId : ''
  }
}

output AZURE_FUNCTION_APP_NAME string = functionApp.outputs.name
output DICOMWEB_URL string = '${functionApp.outputs.url}/v2'
output DICOM_STORAGE_ACCOUNT_NAME string = dataStorage.outputs.name
output AZURE_TENANT_ID string = tenant().tenantId
output DICOM_ERASURE_DAYS int = erasureDays
// For the viewer's deployment (azd's predeploy hook writes them into its app-config.js) and for you.
output VIEWER_URL string = viewerUrl
output DICOM_VIEWER_CLIENT_ID string = empty(viewerClientId) ? apiClientId : viewerClientId
output DICOM_VIEWER_SCOPE string = 'api://${apiClientId}/.default'
