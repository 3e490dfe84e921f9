"""Admin of the catalog (items, with filters and validation against the vocabulary), of recommendation rows (read
only), and the form that edits a customer's allergy and diet codes."""

from django import forms
from django.contrib import admin
from django.db.models import F, QuerySet
from django.http import HttpRequest

from customers import spending
from customers.catalog import items, vocabulary
from customers.models import CATALOG_ITEM_FIELDS, PROFILE_FIELDS, CatalogItem, Customer, Recommendation


def _codes_field(codes: tuple[str, ...], help_text: str) -> forms.MultipleChoiceField:
    return forms.MultipleChoiceField(
        choices=[(code, code) for code in codes],
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=help_text,
    )


class _LinesField(forms.CharField):
    """A list of strings edited one per line."""

    widget = forms.Textarea(attrs={"rows": 3})

    def prepare_value(self, value):
        return "\n".join(value) if isinstance(value, list | tuple) else value

    def to_python(self, value):
        return [line.strip() for line in (value or "").splitlines() if line.strip()]


class CustomerCodesForm(forms.ModelForm):
    """Allergies and diets as checkboxes of the vocabulary's codes; notes one per line. Text typed into the notes
    that names a code ("땅콩", "vegan") is moved to the codes, so that the rules check it."""

    allergies = _codes_field(vocabulary.ALLERGENS, "No item containing one of these is ever recommended.")
    diets = _codes_field(vocabulary.DIETS, "Every food item recommended satisfies all of these.")
    dietary_notes = _LinesField(required=False, help_text="Restrictions no code covers, one per line (unverified).")
    spent_month = forms.CharField(
        required=False,
        max_length=7,
        help_text="The month (YYYY-MM, in BUDGET_TIMEZONE) the spending belongs to; a spending changed alone, or "
        "with no month, is this month's. It counts in its month only.",
    )

    class Meta:
        model = Customer
        fields = ("user", *PROFILE_FIELDS)

    def clean(self):
        cleaned = super().clean()
        parsed = vocabulary.parse(cleaned.get("dietary_notes") or [])
        cleaned["allergies"] = [
            c for c in vocabulary.ALLERGENS if c in {*cleaned.get("allergies", []), *parsed.allergies}
        ]
        cleaned["diets"] = [c for c in vocabulary.DIETS if c in {*cleaned.get("diets", []), *parsed.diets}]
        cleaned["dietary_notes"] = list(parsed.notes)
        spent_changed = "spent_this_month_minor" in self.changed_data
        if not cleaned.get("spent_month") or (spent_changed and "spent_month" not in self.changed_data):
            kept = self.instance.pk and not spent_changed
            cleaned["spent_month"] = self.instance.spent_month if kept else spending.this_month()
        if cleaned["spent_month"] > spending.this_month():
            self.add_error("spent_month", "A month that has not begun yet.")
        return cleaned


class CatalogItemForm(forms.ModelForm):
    allergens = _codes_field(vocabulary.ALLERGENS, "What the item contains.")
    diets = _codes_field(vocabulary.DIETS, "What the item satisfies (when it is food).")
    tags = _LinesField(required=False, help_text="One tag per line, e.g. spicy, 매운맛, jazz.")

    class Meta:
        model = CatalogItem
        fields = ("external_id", *CATALOG_ITEM_FIELDS)

    def clean(self):
        """The same checks as `catalog_import` runs on a row of a file."""
        cleaned = super().clean()
        row = {
            "external_id": cleaned.get("external_id") or "",
            "kind": cleaned.get("kind") or "",
            "name": cleaned.get("name") or "",
            "description": cleaned.get("description") or "",
            "area": cleaned.get("area") or "",
            "currency": cleaned.get("currency") or "KRW",
            "tags": cleaned.get("tags") or [],
            "allergens": cleaned.get("allergens") or [],
            "diets": cleaned.get("diets") or [],
            "food": bool(cleaned.get("food")),
            "active": bool(cleaned.get("active")),
        }
        if cleaned.get("price_minor") is not None:
            row["price"] = cleaned["price_minor"]
        try:
            valid = items.validate(row)
        except items.RowError as exc:
            field = {"price": "price_minor"}.get(exc.field, exc.field)
            self.add_error(field if field in self.fields else None, exc.message)
            return cleaned
        cleaned.update({name: valid[name] for name in ("tags", "allergens", "diets")})
        return cleaned


class _CodeFilter(admin.SimpleListFilter):
    field = ""
    codes: tuple[str, ...] = ()

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        return [(code, code) for code in self.codes]

    def queryset(self, request: HttpRequest, queryset: QuerySet[CatalogItem]) -> QuerySet[CatalogItem]:
        code = self.value()
        if code not in self.codes:
            return queryset
        bits = (vocabulary.ALLERGEN_BITS if self.field == "allergen_mask" else vocabulary.DIET_BITS)[code]
        return queryset.alias(hit=F(self.field).bitand(bits)).filter(hit=bits)


class AllergenFilter(_CodeFilter):
    title = "contains allergen"
    parameter_name = "allergen"
    field = "allergen_mask"
    codes = vocabulary.ALLERGENS


class DietFilter(_CodeFilter):
    title = "satisfies diet"
    parameter_name = "diet"
    field = "diet_mask"
    codes = vocabulary.DIETS


@admin.register(CatalogItem)
class CatalogItemAdmin(admin.ModelAdmin):
    form = CatalogItemForm
    list_display = ("name", "external_id", "kind", "area", "price_minor", "currency", "food", "active", "updated_at")
    list_filter = ("kind", "area", AllergenFilter, DietFilter, "food", "active")
    search_fields = ("name", "external_id", "keywords", "description")
    ordering = ("external_id",)
    readonly_fields = ("created_at", "updated_at")
    actions = ("deactivate", "activate")

    @admin.action(description="Deactivate (never recommended again until activated)", permissions=["change"])
    def deactivate(self, request: HttpRequest, queryset: QuerySet[CatalogItem]) -> None:
        self.message_user(request, f"Deactivated {queryset.update(active=False)} item(s).")

    @admin.action(description="Activate", permissions=["change"])
    def activate(self, request: HttpRequest, queryset: QuerySet[CatalogItem]) -> None:
        self.message_user(request, f"Activated {queryset.update(active=True)} item(s).")


@admin.register(Recommendation)
class RecommendationAdmin(admin.ModelAdmin):
    list_display = ("created_at", "customer", "item", "rating", "rated_at")
    list_select_related = ("customer", "item")
    list_filter = ("rating", "created_at")
    search_fields = ("item__name", "item__external_id", "customer__display_name", "customer__user__username")
    ordering = ("-created_at",)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Recommendation | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Recommendation | None = None) -> bool:
        return False
