"""Agency-scoped authorization for the API, on top of vendors.permissions.

Each view names the permission every action needs (``action_perms``). Detail
URLs look objects up among those the user may VIEW, so an object of another
agency is a 404 and never confirmed to exist; an object of the user's own
agency without the action's permission is a 403. Denials are audited.
"""

from rest_framework import permissions

from vendors.permissions import VIEW, agency_ids_for, has_agency_perm


class AgencyPermission(permissions.BasePermission):
    """Authenticated, and holding the action's permission in the object's agency."""

    def has_permission(self, request, view):
        user = request.user
        if not (user and user.is_authenticated):
            return False
        perm = view.required_perm()
        if perm is None:
            return True
        if view.detail:
            return True  # decided per object below, after the 404-or-not lookup
        # Lists and creates: the user needs the permission in at least one agency;
        # which agency a create lands in is checked by the serializer's fields.
        # The view's own read when it keeps one (AgencyScopedViewSet: the list filters
        # by the same ids, so the lookup runs once per request).
        held = view.agency_ids(perm) if hasattr(view, "agency_ids") else agency_ids_for(user, perm)
        if not held:
            view.denied_perm = perm
            return False
        return True

    def has_object_permission(self, request, view, obj):
        perm = view.required_perm()
        if perm is None or perm == VIEW:
            return True  # the lookup queryset is already restricted to VIEW
        if has_agency_perm(request.user, perm, obj):
            return True
        view.denied_perm = perm
        view.denied_object = obj
        return False
