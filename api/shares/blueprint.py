"""Share-link functions: creating, listing and revoking shares, and the recipient's page behind a link."""

import azure.functions as func

blueprint = func.Blueprint()
