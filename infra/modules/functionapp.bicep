// The Python Function App on the Flex Consumption plan, HTTPS only, reaching storage with its identity.
param name string
param location string
param tags object
param identityId string
param identityClientId string
param hostStorageName string
param hostBlobEndpoint string
param dataStorageName string
param appInsightsName string
param apiClientId string
param corsAllowedOrigins array
@description('Largest request body in bytes, for the Functions host and the service alike, so the two limits agree.')
param maxRequestBytes int
param dataPartitionsEnabled bool
param partitionAccess object
@description('The index\'s HMAC key (DICOM_INDEX_KEY).')
@secure()
param indexKey string
@description('Subnet (delegated to Microsoft.App/environments) for VNet integration; empty: none.')
param subnetId string = ''

// Read here rather than passed as an output. The connection string only names the ingestion endpoint:
// local auth is disabled, so telemetry is accepted only with the identity's Entra token.
resource appInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: appInsightsName
}

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  name: 'plan-${name}'
  location: location
  tags: tags
  kind: 'functionapp'
  sku: { name: 'FC1', tier: 'FlexConsumption' }
  properties: { reserved: true }
}

resource site 'Microsoft.Web/sites@2024-04-01' = {
  name: name
  location: location
  tags: tags
  kind: 'functionapp,linux'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: { '${identityId}': {} }
  }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    virtualNetworkSubnetId: empty(subnetId) ? null : subnetId
    siteConfig: {
      minTlsVersion: '1.2'
      ftpsState: 'Disabled'
      http20Enabled: true
      cors: { allowedOrigins: corsAllowedOrigins }
      appSettings: [
        { name: 'AzureWebJobsStorage__accountName', value: hostStorageName }
        { name: 'AzureWebJobsStorage__credential', value: 'managedidentity' }
        { name: 'AzureWebJobsStorage__clientId', value: identityClientId }
        { name: 'APPLICATIONINSIGHTS_CONNECTION_STRING', value: appInsights.properties.ConnectionString }
        { name: 'APPLICATIONINSIGHTS_AUTHENTICATION_STRING', value: 'ClientId=${identityClientId};Authorization=AAD' }
        // Telemetry once: the app's own OpenTelemetry pipeline (shared/telemetry.py, with its redaction) sends the
        // worker's logs and traces; this tells the host (host.json telemetryMode OpenTelemetry) not to forward them
        // a second time. PYTHON_APPLICATIONINSIGHTS_ENABLE_TELEMETRY stays unset: it would start a second pipeline.
        { name: 'PYTHON_ENABLE_OPENTELEMETRY', value: 'true' }
        { name: 'AZURE_CLIENT_ID', value: identityClientId }
        { name: 'PYTHON_ENABLE_INIT_INDEXING', value: '1' }
        { name: 'DICOM_STORAGE_ACCOUNT_NAME', value: dataStorageName }
        // The operations queue's trigger connection, identity-based (no key).
        { name: 'DICOM_QUEUE__queueServiceUri', value: 'https://${dataStorageName}.queue.${environment().suffixes.storage}' }
        { name: 'DICOM_QUEUE__credential', value: 'managedidentity' }
        { name: 'DICOM_QUEUE__clientId', value: identityClientId }
        { name: 'DICOM_OPERATIONS_QUEUE', value: 'dicom-operations' }
        { name: 'DICOM_BLOB_CONTAINER', value: 'dicom' }
        { name: 'DICOM_TABLE_PREFIX', value: 'dicom' }
        { name: 'DICOM_AUTH_ENABLED', value: 'true' }
        { name: 'DICOM_AUTH_TENANT_ID', value: tenant().tenantId }
        { name: 'DICOM_AUTH_AUDIENCE', value: 'api://${apiClientId},${apiClientId}' }
        // The host refuses bodies over 100 MB unless told otherwise; the service enforces the same limit itself.
        { name: 'FUNCTIONS_REQUEST_BODY_SIZE_LIMIT', value: string(maxRequestBytes) }
        { name: 'DICOM_MAX_REQUEST_BYTES', value: string(maxRequestBytes) }
        { name: 'DICOM_INDEX_KEY', value: indexKey }
        { name: 'DICOM_DATA_PARTITIONS_ENABLED', value: dataPartitionsEnabled ? 'true' : 'false' }
        { name: 'DICOM_PARTITION_ACCESS', value: empty(partitionAccess) ? '' : string(partitionAccess) }
      ]
    }
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: '${hostBlobEndpoint}deployment-package'
          authentication: {
            type: 'UserAssignedIdentity'
            userAssignedIdentityResourceId: identityId
          }
        }
      }
      scaleAndConcurrency: {
        maximumInstanceCount: 100
        instanceMemoryMB: 2048
      }
      runtime: { name: 'python', version: '3.11' }
    }
  }
}

// No publishing with user names and passwords: deployments authenticate with Entra ID.
resource ftpPublishing 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-04-01' = {
  parent: site
  name: 'ftp'
  properties: { allow: false }
}

resource scmPublishing 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-04-01' = {
  parent: site
  name: 'scm'
  properties: { allow: false }
}

output name string = site.name
output url string = 'https://${site.properties.defaultHostName}'
