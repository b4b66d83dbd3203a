from django.apps import AppConfig


class ReviewsConfig(AppConfig):
    name = "reviews"
    verbose_name = "Access reviews and roster attestation"

    def ready(self):
        # The campaign report in every evidence pack (audit.evidence's section hook).
        from audit.evidence import evidence_section_register
        from reviews.selectors import evidence_reviews

        evidence_section_register("reviews", evidence_reviews)
