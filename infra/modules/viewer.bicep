// The OHIF viewer: the prebuilt @ohif/app pinned in package.json, as a Static Web App. azd deploys its files as
// they are (azure.yaml's viewer service; `python -m local.viewer stage` adds app-config.js pointing at the function
// app and staticwebapp.config.json for the single-page fallback). The site holds no data, only the viewer's code:
// sign-in is OHIF's own (OpenID Connect with Entra ID, in app-config.js), and the token it gets is what the API
// checks, so the site needs no authentication of its own.
param name string
param location string
param tags object
@description('Free (250 MB of content, enough for the viewer\'s about 205 MB) or Standard (500 MB, SLA, private endpoints).')
@allowed(['Free', 'Standard'])
param sku string

resource site 'Microsoft.Web/staticSites@2024-04-01' = {
  name: name
  location: location
  tags: tags
  sku: { name: sku, tier: sku }
  properties: {
    // Deployed from files by azd (the Static Web Apps CLI), not built from a linked repository.
    provider: 'Custom'
    stagingEnvironmentPolicy: 'Disabled'
    allowConfigFileUpdates: true
  }
}

output name string = site.name
output url string = 'https://${site.properties.defaultHostname}'
