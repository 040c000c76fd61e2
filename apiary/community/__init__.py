"""The owned community: spaces, memberships, content of every type, and the access chokepoint."""
