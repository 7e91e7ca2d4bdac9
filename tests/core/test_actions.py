"""Addresses that act (a button posts to them), opened as links: they change nothing and
say what their button does, for anyone, without naming the object in the address."""

import pytest

from federation.models import ApiToken
from tests.conftest import Client

pytestmark = pytest.mark.django_db


def main(response):
    page = response.content.decode()
    return page[page.index("<main") : page.index("</main>")]


ACTIONS = [
    ("/requests/{id}/cancel/", "Cancel a request", "/requests/"),
    ("/requests/{id}/end/", "End access now", "/requests/"),
    ("/approvals/{id}/", "Decide a request", "/approvals/"),
    ("/approvals/{id}/review/", "Review break-glass use", "/approvals/"),
    ("/roles/{id}/star/", "Star a role", "/"),
    ("/tokens/{id}/revoke/", "Revoke an API token", "/tokens/"),
    ("/logout/", "Sign out", "/"),
]


@pytest.mark.parametrize("address, title, back", ACTIONS)
def test_opening_an_action_as_a_link_says_what_it_does_and_links_back(
    client, world, address, title, back
):
    client.force_login(world.bob)

    response = client.get(address.format(id=7))

    assert response.status_code == 405 and response["Allow"] == "POST"
    page = response.content.decode()
    assert f"<h1>{title}</h1>" in page
    assert f'<a class="button primary" href="{back}">' in page
    assert client.get("/").status_code == 200  # still signed in: nothing was done


def test_opening_someone_elses_token_revocation_reveals_nothing_and_revokes_nothing(world):
    token, _ = ApiToken.issue(user=world.bob, name="laptop", days=30)
    carol = Client()
    carol.force_login(world.carol)

    theirs = carol.get(f"/tokens/{token.pk}/revoke/")
    nobodys = carol.get(f"/tokens/{token.pk + 1000}/revoke/")

    assert theirs.status_code == nobodys.status_code == 405
    assert "laptop" not in theirs.content.decode()
    assert main(theirs) == main(nobodys).replace(str(token.pk + 1000), str(token.pk))
    assert ApiToken.objects.unscoped("test").filter(pk=token.pk).live().exists()
