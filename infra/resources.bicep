// The resource group's contents; main.bicep creates the group and calls this.
targetScope = 'resourceGroup'

param location string
param tags object
param token string
param functionAppName string
param principalId string
param platformAppClientId string
param platformAppTenantId string
param platformAppName string
param platformOrigin string
@secure()
param platformAppClientSecret string
param maximumInstanceCount int
param instanceMemoryMB int
param taskHubName string
param logRetentionDays int
param syncSettings object

// Built-in role definition ids (the same in every tenant).
var roles = {
  storageBlobDataOwner: 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b'
  storageBlobDataContributor: 'ba92f5b4-2d11-453d-a403-e96b0029c9fe'
  storageBlobDataReader: '2a2b9908-6ea1-4ae2-8e65-a410df84e7d1'
  storageQueueDataContributor: '974c5e8b-45b9-4653-ba55-5f855dd0fb88'
  storageTableDataContributor: '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3'
  storageTableDataReader: '76199698-9eea-4c19-bc75-cec21354c6b6'
  monitoringMetricsPublisher: '3913510d-42f4-4e42-8a64-420c390055eb'
  keyVaultSecretsUser: '4633458b-17de-408a-b874-0445c86b69e6'
  keyVaultSecretsOfficer: 'b86a8fe4-44ce-4948-aee5-eccb2c155cd7'
}

// The tables the app owns (shared/store/tables.py ALL_TABLES) and its staging container.
var metadataTables = [
  'Organizations'
  'Usage'
  'Connections'
  'Assets'
  'SyncRuns'
  'Autosync'
  'EventRechecks'
  'WebhookDeliveries'
]
var stagingContainer = 'sync-staging'
var deploymentContainer = toLower('app-package-${take(functionAppName, 32)}-${take(token, 7)}')
var platformSecretName = 'platform-app-client-secret'

// The app's identity: read/write its tables and staging blobs; read the vault's secrets.
var appMetadataRoles = [
  { principalId: identity.properties.principalId, principalType: 'ServicePrincipal', roleId: roles.storageTableDataContributor }
  { principalId: identity.properties.principalId, principalType: 'ServicePrincipal', roleId: roles.storageBlobDataContributor }
]
var appVaultRoles = [
  { principalId: identity.properties.principalId, principalType: 'ServicePrincipal', roleId: roles.keyVaultSecretsUser }
]

// The deployer (azd's signed-in user), when known: read the metadata store, manage the secret.
var deployerMetadataRoles = empty(principalId) ? [] : [
  { principalId: principalId, principalType: 'User', roleId: roles.storageTableDataReader }
  { principalId: principalId, principalType: 'User', roleId: roles.storageBlobDataReader }
]
var deployerVaultRoles = empty(principalId) ? [] : [
  { principalId: principalId, principalType: 'User', roleId: roles.keyVaultSecretsOfficer }
]

resource identity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: 'id-${token}'
  location: location
  tags: tags
}

module monitoring 'modules/monitoring.bicep' = {
  name: 'monitoring'
  params: {
    location: location
    tags: tags
    token: token
    logRetentionDays: logRetentionDays
    publisherPrincipalId: identity.properties.principalId
    metricsPublisherRoleId: roles.monitoringMetricsPublisher
  }
}

// Functions host storage: the Durable task hub (queues, tables, lease blobs) and the Flex
// deployment package container. Identity only: shared keys are disabled on the account.
module runtimeStorage 'modules/storage.bicep' = {
  name: 'runtime-storage'
  params: {
    location: location
    tags: tags
    name: 'st${token}'
    containers: [deploymentContainer]
    tables: []
    workspaceId: monitoring.outputs.workspaceId
    assignments: [
      { principalId: identity.properties.principalId, principalType: 'ServicePrincipal', roleId: roles.storageBlobDataOwner }
      { principalId: identity.properties.principalId, principalType: 'ServicePrincipal', roleId: roles.storageQueueDataContributor }
      { principalId: identity.properties.principalId, principalType: 'ServicePrincipal', roleId: roles.storageTableDataContributor }
    ]
  }
}

// The platform's metadata store: the app's tables and the sync-staging container.
module metadataStorage 'modules/storage.bicep' = {
  name: 'metadata-storage'
  params: {
    location: location
    tags: tags
    name: 'stmeta${take(token, 18)}'
    containers: [stagingContainer]
    tables: metadataTables
    workspaceId: monitoring.outputs.workspaceId
    assignments: concat(appMetadataRoles, deployerMetadataRoles)
  }
}

module vault 'modules/keyvault.bicep' = {
  name: 'keyvault'
  params: {
    location: location
    tags: tags
    name: 'kv-${take(token, 20)}'
    secretName: platformSecretName
    secretValue: platformAppClientSecret
    workspaceId: monitoring.outputs.workspaceId
    assignments: concat(appVaultRoles, deployerVaultRoles)
  }
}

module function 'modules/function.bicep' = {
  name: 'function'
  params: {
    location: location
    tags: tags
    name: functionAppName
    planName: 'plan-${token}'
    identityId: identity.id
    identityClientId: identity.properties.clientId
    runtimeAccountName: runtimeStorage.outputs.name
    runtimeBlobEndpoint: runtimeStorage.outputs.blobEndpoint
    deploymentContainer: deploymentContainer
    maximumInstanceCount: maximumInstanceCount
    instanceMemoryMB: instanceMemoryMB
    // Every app setting the app and the host read (tests/infra check the names against
    // shared/settings.py). Identity-based connections only; no key, no connection string.
    appSettings: union(syncSettings, {
      AzureWebJobsStorage__accountName: runtimeStorage.outputs.name
      AzureWebJobsStorage__credential: 'managedidentity'
      AzureWebJobsStorage__clientId: identity.properties.clientId
      TASK_HUB_NAME: taskHubName
      APPLICATIONINSIGHTS_CONNECTION_STRING: monitoring.outputs.appInsightsConnectionString
      APPLICATIONINSIGHTS_AUTHENTICATION_STRING: 'ClientId=${identity.properties.clientId};Authorization=AAD'
      METADATA_STORAGE__accountName: metadataStorage.outputs.name
      METADATA_STORAGE__tableServiceUri: metadataStorage.outputs.tableEndpoint
      METADATA_STORAGE__blobServiceUri: metadataStorage.outputs.blobEndpoint
      METADATA_STORAGE__credential: 'managedidentity'
      METADATA_STORAGE__clientId: identity.properties.clientId
      CUSTOMER_STORAGE_MODE: 'azure'
      STORAGE_ENDPOINT_SUFFIX: environment().suffixes.storage
      PLATFORM_APP_CLIENT_ID: platformAppClientId
      PLATFORM_APP_TENANT_ID: platformAppTenantId
      PLATFORM_APP_NAME: platformAppName
      PLATFORM_APP_CLIENT_SECRET: '@Microsoft.KeyVault(VaultName=${vault.outputs.name};SecretName=${platformSecretName})'
      PLATFORM_ORIGIN: platformOrigin
      MALLOC_ARENA_MAX: '2'
    })
  }
}

module workbook 'modules/workbook.bicep' = {
  name: 'workbook'
  params: {
    location: location
    tags: tags
    appInsightsId: monitoring.outputs.appInsightsId
  }
}

output functionAppName string = function.outputs.name
output apiBaseUrl string = 'https://${function.outputs.defaultHostName}/api'
output keyVaultName string = vault.outputs.name
output metadataAccountName string = metadataStorage.outputs.name
output workbookId string = workbook.outputs.id
