// Blob sync: everything the function app needs, in one resource group, with no keys in settings.
//
//   azd up        provisions this template, then deploys the app (azure.yaml, service `api`)
//   azd down      deletes the resource group (add --purge to purge the soft-deleted Key Vault)
//
// One user-assigned managed identity is the app's only credential for Azure resources: the
// runtime storage (AzureWebJobsStorage and the Durable task hub), the metadata store (Tables +
// the sync-staging container), Application Insights ingestion and the Key Vault reference.
targetScope = 'subscription'

@minLength(1)
@maxLength(64)
@description('Name of the azd environment: part of every resource name and the azd-env-name tag.')
param environmentName string

@minLength(1)
@description('Region of every resource. It must offer Flex Consumption (az functionapp list-flexconsumption-locations).')
param location string

@description('Resource group to create; default rg-<environmentName>.')
param resourceGroupName string = ''

@description('Function app name (the API host is <name>.azurewebsites.net); default func-<token>.')
param functionAppName string = ''

@description('Object id of the deployer (azd sets AZURE_PRINCIPAL_ID): gets read access to the metadata store and the Key Vault secrets officer role. Empty: none.')
param principalId string = ''

@description('The platform\'s multi-tenant app registration (application / client id) customers grant access to.')
param platformAppClientId string

@description('The platform app\'s home tenant id (empty: the deployment\'s tenant); tokens are still requested per customer tenant.')
param platformAppTenantId string = ''

@description('Display name customers search for in their portal\'s role assignment Members tab.')
param platformAppName string = 'Datature Vi'

@description('Origin of the platform frontend, allowed by customers\' CORS rules for video previews (scheme and host, no path).')
param platformOrigin string = 'https://vi.datature.com'

@secure()
@description('The platform app\'s client secret. Stored in the Key Vault (never in app settings); empty: set the secret platform-app-client-secret in the vault yourself.')
param platformAppClientSecret string = ''

@minValue(40)
@maxValue(1000)
@description('Flex Consumption: the most instances the app scales out to. Each instance runs up to 8 inspection activities (host.json), so 100 instances bound a burst of many syncs at 800 activities.')
param maximumInstanceCount int = 100

@allowed([
  512
  2048
  4096
])
@description('Flex Consumption: memory per instance (MB). 2048 fits 8 concurrent inspection activities with the PyAV fallback (a worker peaks near 200 MB on a 20,000-blob sync).')
param instanceMemoryMB int = 2048

@description('Durable task hub name (TASK_HUB_NAME; host.json reads %TASK_HUB_NAME%). Change it to run two deployments on one storage account.')
param taskHubName string = 'BlobSyncHub'

@description('Days Log Analytics keeps logs and telemetry.')
param logRetentionDays int = 30

@description('Tuning values the app reads; defaults match shared/settings.py.')
param syncSettings object = {
  DATA_ROWS_PER_IMAGE: '5'
  DATA_ROWS_PER_VIDEO: '5'
  DEFAULT_MONTHLY_QUOTA: '100000'
  SYNC_PAGE_SIZE: '5000'
  SYNC_LIST_WIDTH: '8'
  SYNC_BATCH_SIZE: '500'
  SYNC_READ_CONCURRENCY: '16'
  SYNC_PAGES_PER_EXECUTION: '2'
  SYNC_BATCHES_IN_FLIGHT: '4'
  PREVIEW_MAX_BLOBS: '50000'
  PREVIEW_TIME_BUDGET_SECONDS: '60'
  SYNC_OUTAGE_LIMIT_SECONDS: '900'
  SYNC_OUTAGE_RETRY_SECONDS: '5'
  AUTOSYNC_MIN_INTERVAL_SECONDS: '3600'
  WEBHOOK_ALLOW_LOOPBACK: 'false'
  WEBHOOK_MAX_ATTEMPTS: '6'
  WEBHOOK_RETRY_BASE_SECONDS: '30'
}

var token = toLower(uniqueString(subscription().id, environmentName, location))
var tags = {
  'azd-env-name': environmentName
  app: 'blobsync'
}
var appName = !empty(functionAppName) ? functionAppName : 'func-${token}'

resource rg 'Microsoft.Resources/resourceGroups@2024-03-01' = {
  name: !empty(resourceGroupName) ? resourceGroupName : 'rg-${environmentName}'
  location: location
  tags: tags
}

module app 'resources.bicep' = {
  name: 'blobsync-resources'
  scope: rg
  params: {
    location: location
    tags: tags
    token: token
    functionAppName: appName
    principalId: principalId
    platformAppClientId: platformAppClientId
    platformAppTenantId: empty(platformAppTenantId) ? tenant().tenantId : platformAppTenantId
    platformAppName: platformAppName
    platformOrigin: platformOrigin
    platformAppClientSecret: platformAppClientSecret
    maximumInstanceCount: maximumInstanceCount
    instanceMemoryMB: instanceMemoryMB
    taskHubName: taskHubName
    logRetentionDays: logRetentionDays
    syncSettings: syncSettings
  }
}

// azd writes these into .azure/<env>/.env; none of them is a secret.
output AZURE_LOCATION string = location
output AZURE_TENANT_ID string = tenant().tenantId
output AZURE_RESOURCE_GROUP string = rg.name
output AZURE_FUNCTION_APP_NAME string = app.outputs.functionAppName
output AZURE_KEY_VAULT_NAME string = app.outputs.keyVaultName
output AZURE_METADATA_STORAGE_ACCOUNT string = app.outputs.metadataAccountName
output AZURE_WORKBOOK_ID string = app.outputs.workbookId
output API_BASE_URL string = app.outputs.apiBaseUrl
output CONSOLE_URL string = '${app.outputs.apiBaseUrl}/console/'
output HEALTH_URL string = '${app.outputs.apiBaseUrl}/health'
