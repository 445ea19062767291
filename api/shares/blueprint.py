"""Share-link functions: creating, listing and revoking shares, and the recipient's page behind a link.

The recipient's routes are public as far as Entra is concerned (Access.PUBLIC): the link's secret, the share's
password cookie and the studies the share covers are checked by api/shares/access.py on every one of them.
"""

import azure.functions as func
from azurefunctions.extensions.http.fastapi import Request, Response

from shared.runner import run

from ..routes import VERSION, register
from ..wado.frames import frames
from ..wado.instances import retrieve
from ..wado.metadata import metadata
from ..wado.rendered import rendered, thumbnail
from .manage import create_share_link, list_share_links, revoke_share_link
from .recipient import share_asset, share_page, share_password, share_studies, share_zip, through_share

SHARES = VERSION + "/shares"
LINK = VERSION + "/share/{token}"
STUDY = LINK + "/studies/{study}"
SERIES = STUDY + "/series/{series}"
INSTANCE = SERIES + "/instances/{instance}"
# What only a downloadable share gives: the files, their whole headers (metadata) and their raw pixel data
# (frames). Every share shows rendered images and thumbnails: what its page needs.
FILES = {"download": True}

blueprint = func.Blueprint()
register(blueprint, "create_share", SHARES, ["POST"], create_share_link)
register(blueprint, "list_shares", SHARES, ["GET"], list_share_links)
register(blueprint, "revoke_share", SHARES + "/{share_id}", ["DELETE"], revoke_share_link)
register(blueprint, "share_page", LINK, ["GET"], share_page)
register(blueprint, "share_password", LINK, ["POST"], share_password)
register(blueprint, "share_studies", LINK + "/studies", ["GET"], share_studies)
register(blueprint, "share_zip", STUDY + "/zip", ["GET"], share_zip)
for level, route in (("study", STUDY), ("series", SERIES), ("instance", INSTANCE)):
    register(blueprint, f"share_{level}", route, ["GET"], through_share, target=retrieve, **FILES)
    register(
        blueprint, f"share_{level}_metadata", route + "/metadata", ["GET"], through_share, target=metadata, **FILES
    )
    register(blueprint, f"share_{level}_thumbnail", route + "/thumbnail", ["GET"], through_share, target=thumbnail)
register(blueprint, "share_frames", INSTANCE + "/frames/{frames}", ["GET"], through_share, target=frames, **FILES)
register(blueprint, "share_rendered", INSTANCE + "/rendered", ["GET"], through_share, target=rendered)
register(blueprint, "share_frame_rendered", INSTANCE + "/frames/{frames}/rendered", ["GET"], through_share,
         target=rendered)  # fmt: skip


@blueprint.route(route=VERSION + "/share-page/{asset}", methods=["GET"])
async def share_page_asset(req: Request) -> Response:
    """The page's script and style sheet, the same in every partition (one route, no partition twin)."""
    return await run(share_asset, req, **req.path_params)
