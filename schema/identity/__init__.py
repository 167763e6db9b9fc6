"""Identity resolution in GraphQL (issue 12): links with their explanations, the review queue, steward decisions."""
