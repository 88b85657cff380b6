"""The 15 IT-recruitment positions of the fictional dataset and the recruiter's rule."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Position:
    title: str
    description: str
    min_years: int
    keywords: tuple[str, ...]

    @property
    def requirement(self) -> str:
        return f"{self.min_years}+ years of experience with {', '.join(self.keywords[:3])}"


POSITIONS: tuple[Position, ...] = (
    Position("Software Engineer", "Design, build and maintain reliable software systems.", 3,
             ("Python", "Java", "Git", "Algorithms", "System Design")),
    Position("Data Scientist", "Turn business data into models and insight.", 3,
             ("Python", "Statistics", "Machine Learning", "SQL", "Pandas")),
    Position("HR Manager", "Lead recruitment, people operations and employee relations.", 5,
             ("Recruitment", "Employee Relations", "Labor Law", "Onboarding", "Performance Management")),
    Position("Accountant", "Keep the books, close the months and prepare tax filings.", 2,
             ("Bookkeeping", "Excel", "Tax Preparation", "Financial Reporting", "Auditing")),
    Position("Product Manager", "Own the roadmap and ship products customers love.", 4,
             ("Roadmapping", "Agile", "User Research", "Stakeholder Management", "Analytics")),
    Position("DevOps Engineer", "Automate infrastructure, deployments and monitoring.", 3,
             ("Docker", "Kubernetes", "Terraform", "CI/CD", "AWS")),
    Position("UX/UI Designer", "Design intuitive interfaces and user journeys.", 2,
             ("Figma", "Prototyping", "Wireframing", "User Testing", "Design Systems")),
    Position("Frontend Developer", "Build fast, accessible web front ends.", 2,
             ("JavaScript", "React", "TypeScript", "CSS", "HTML")),
    Position("Backend Developer", "Build APIs, services and data stores.", 3,
             ("Node.js", "PostgreSQL", "REST APIs", "Microservices", "Redis")),
    Position("QA Engineer", "Guard product quality with manual and automated tests.", 2,
             ("Selenium", "Test Automation", "Cypress", "Regression Testing", "JIRA")),
    Position("Security Analyst", "Detect, investigate and prevent security incidents.", 3,
             ("SIEM", "Incident Response", "Penetration Testing", "Firewalls", "Threat Intelligence")),
    Position("Marketing Specialist", "Plan and run campaigns that grow the brand.", 2,
             ("SEO", "Content Marketing", "Google Ads", "Social Media", "Email Campaigns")),
    Position("Business Analyst", "Translate business needs into clear requirements.", 3,
             ("Requirements Gathering", "SQL", "Process Modeling", "Tableau", "Stakeholder Interviews")),
    Position("Machine Learning Engineer", "Put machine-learning models into production.", 4,
             ("PyTorch", "TensorFlow", "MLOps", "Deep Learning", "Model Deployment")),
    Position("Technical Support Specialist", "Solve customers' technical problems quickly.", 1,
             ("Troubleshooting", "Customer Service", "Ticketing Systems", "Windows", "Networking")),
)

POSITIONS_BY_TITLE: dict[str, Position] = {p.title: p for p in POSITIONS}

#: A candidate is accepted when experience meets the position's minimum and they
#: hold at least this many of its keywords.
MIN_KEYWORDS = 3


def rule_outcome(position_title: str, experience_years: int, applicant_keywords: list[str]) -> str:
    """What the fictional recruiter decides before noise."""
    position = POSITIONS_BY_TITLE[position_title]
    matched = len(set(position.keywords) & set(applicant_keywords))
    meets = experience_years >= position.min_years and matched >= MIN_KEYWORDS
    return "Accepted" if meets else "Rejected"
